/* SPDX-License-Identifier: BSD-3-Clause */
/* subdev.c - the registry of sub-device kinds and common helpers. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "subdev.h"

/* Every compiled-in kind.  A new kind adds a line here and a file in
 * subdev/. */
static const struct fsb_subdev_ops *const kinds[] = {
	&fsb_subdev_null_ops,
	&fsb_subdev_ring_ops,
	&fsb_subdev_af_packet_ops,
	&fsb_subdev_virtio_user_ops,
};

const struct fsb_subdev_ops *fsb_subdev_kind_find(const char *kind)
{
	for (size_t i = 0; i < FSB_ARRAY_SIZE(kinds); i++)
		if (strcmp(kinds[i]->kind, kind) == 0)
			return kinds[i];
	return NULL;
}

static char kinds_list[128];
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static void kinds_list_build(void)
{
	size_t off = 0;
	for (size_t i = 0; i < FSB_ARRAY_SIZE(kinds); i++)
		off += (size_t)snprintf(kinds_list + off, sizeof(kinds_list) - off,
					"%s%s", i ? ", " : "", kinds[i]->kind);
}

/* Built once (pthread_once): spec errors may be formatted by several
 * threads at a time. */
const char *fsb_subdev_kinds(void)
{
	pthread_once(&kinds_once, kinds_list_build);
	return kinds_list;
}

void fsb_subdev_init(struct fsb_subdev *sd, const struct fsb_devspec *d,
		     uint16_t port_id, int slot, const char *port_name)
{
	memset(sd, 0, sizeof(*sd));
	sd->ops = fsb_subdev_kind_find(d->kind);
	sd->spec = *d;
	sd->port_id = port_id;
	sd->slot = slot;
	if (slot >= 0)
		snprintf(sd->name, sizeof(sd->name), "%s.%d", port_name, slot);
	else
		snprintf(sd->name, sizeof(sd->name), "%s", port_name);
	atomic_init(&sd->test_enotsup, 0);
	atomic_init(&sd->test_link_down, false);
}
