/* SPDX-License-Identifier: BSD-3-Clause */
/* subdev.c - the registry of sub-device kinds and common helpers. */
#include "config.h"

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
	&fsb_subdev_virtio_pci_ops,
};

/* The spec parser's view of the same kinds (fsb_private.h). */
const struct fsb_kind_spec *const fsb_kind_specs[] = {
	&fsb_subdev_null_ops.desc,
	&fsb_subdev_ring_ops.desc,
	&fsb_subdev_af_packet_ops.desc,
	&fsb_subdev_virtio_user_ops.desc,
	&fsb_subdev_virtio_pci_ops.desc,
	NULL,
};
_Static_assert(FSB_ARRAY_SIZE(fsb_kind_specs) == FSB_ARRAY_SIZE(kinds) + 1,
	       "every kind is known to the spec parser");

const struct fsb_subdev_ops *fsb_subdev_kind_find(const char *kind)
{
	for (size_t i = 0; i < FSB_ARRAY_SIZE(kinds); i++)
		if (strcmp(kinds[i]->desc.kind, kind) == 0)
			return kinds[i];
	return NULL;
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
	atomic_init(&sd->tx_fail_ns, 0);
}

void fsb_subdev_tx_failing(struct fsb_subdev *sd, uint64_t since_ns)
{
	uint64_t none = 0;
	atomic_compare_exchange_strong(&sd->tx_fail_ns, &none,
				       since_ns ? since_ns : 1);
	fsb_subdev_notify(sd, FSB_DEVSIG_TX_FAILED, FSB_REASON_LINK_DOWN);
}

int fsb_subdev_link_get(struct fsb_subdev *sd, struct fsb_link *l)
{
	int rc = sd->ops->link_get(sd, l);
	if (rc == 0 && sd->nd.used && !sd->nd.running)
		l->up = false;
	return rc;
}
