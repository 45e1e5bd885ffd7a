/* SPDX-License-Identifier: BSD-3-Clause */
/* An external program, built against the installed library with
 * `pkg-config --cflags --libs libfsb` and nothing else. */
#include <fsb/fsb.h>
#include <stdio.h>

int main(void)
{
	char err[FSB_ERRMSG_MAX];
	struct fsb_ctx *ctx = fsb_ctx_new();
	struct fsb_mempool *mp = ctx ? fsb_mempool_create(ctx, "hello", 1024, 2048, 32, -1) : NULL;
	struct fsb_port *p = mp ? fsb_port_open(ctx, "hello,dev(null,size=60)", err, sizeof(err)) : NULL;
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	struct fsb_buf *b[32];
	if (!p || fsb_port_configure(p, &pc) || fsb_rx_queue_setup(p, 0, mp) ||
	    fsb_port_start(p)) {
		fprintf(stderr, "hello: setup failed\n");
		return 1;
	}
	uint16_t n = fsb_rx_burst(p, 0, b, 32);
	uint16_t s = fsb_tx_burst(p, 0, b, n);
	printf("libfsb %s: received %u, sent %u\n", fsb_version(), n, s);
	fsb_port_close(p);
	fsb_ctx_free(ctx);
	return (n == 32 && s == 32) ? 0 : 1;
}
