/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb-qmp - a QMP client for the QEMU harness (tests/qemu/).
 *
 *   fsb-qmp SOCKET --log FILE       log every event until QEMU goes
 *   fsb-qmp SOCKET CMD [CMD...]     run commands, print their replies,
 *                                   each after the time it was sent
 *
 * QMP is QEMU's monitor protocol: JSON objects, one per line, on a unix
 * socket.  QEMU greets, the client sends {"execute":"qmp_capabilities"}
 * and from then on each command gets one reply ({"return": ...} or
 * {"error": ...}) and every event ({"event": ..., "timestamp": ...}) is
 * broadcast to every connected monitor.  A QMP chardev serves one client
 * at a time, so the harness gives each QEMU two: one for a long-lived
 * logger (--log), one for commands.
 *
 * The logger prefixes each event line with the CLOCK_MONOTONIC receipt
 * time in ns, the clock fsb-peer and the library use, so QEMU's events
 * and the frames counted elsewhere compare; a command's reply comes
 * after the same clock's time the command was sent.  QEMU's own timestamp is
 * wall-clock and stays in the JSON.
 *
 * A CMD is either a whole JSON object or just a command name
 * ("query-status").  Exit status: 0 when every command returned, 1 when
 * one got an error or the connection failed, 2 on bad usage.
 *
 * Test tool only: libc, nothing else.  It does not parse JSON beyond
 * telling replies from events: QMP puts "return" and "error" first in
 * a reply; an event has "timestamp" and "event".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 30000

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull +
	       (unsigned long long)ts.tv_nsec;
}

struct conn {
	int fd;
	char buf[65536];
	size_t len;
};

/* The next line (without its newline) into @line, or -1 on EOF, error
 * or timeout. */
static int read_line(struct conn *c, char *line, size_t cap, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			size_t k = n < cap - 1 ? n : cap - 1;
			memcpy(line, c->buf, k);
			line[k] = '\0';
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return 0;
		}
		if (c->len == sizeof(c->buf))
			c->len = 0;     /* an absurd line: drop it */
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r <= 0)
			return -1;
		ssize_t got = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (got <= 0)
			return -1;
		c->len += (size_t)got;
	}
}

/* An event carries "event" (after its "timestamp"); a reply starts with
 * "return" or "error". */
static int is_event(const char *l)
{
	return strncmp(l, "{\"return\"", 9) != 0 &&
	       strncmp(l, "{\"error\"", 8) != 0 && strstr(l, "\"event\":");
}

/* Send @json and wait for its reply; events meanwhile go to @log (may be
 * NULL).  Returns 0 for "return", 1 for "error" or no reply. */
static int execute(struct conn *c, const char *json, FILE *log, FILE *out)
{
	char line[65536];
	unsigned long long sent = now_ns();
	if (write(c->fd, json, strlen(json)) < 0 || write(c->fd, "\n", 1) < 0)
		return 1;
	for (;;) {
		if (read_line(c, line, sizeof(line), TIMEOUT_MS) < 0) {
			fprintf(stderr, "fsb-qmp: no reply to %s\n", json);
			return 1;
		}
		if (is_event(line)) {
			if (log)
				fprintf(log, "%llu %s\n", now_ns(), line);
			continue;
		}
		if (out)
			fprintf(out, "%llu %s\n", sent, line);
		return strstr(line, "\"error\"") ? 1 : 0;
	}
}

static int qmp_connect(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "fsb-qmp: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	c->len = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* QEMU creates the socket a moment after it starts: retry, for a
	 * minute (a loaded machine starting two TCG guests at once took
	 * more than the 10 s this once allowed: CI lost a scene's events) */
	unsigned long long dl = now_ns() + 60000000000ull;
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (now_ns() > dl) {
			fprintf(stderr, "fsb-qmp: connect %s: %s\n", path,
				strerror(errno));
			return -1;
		}
		usleep(20000);
	}
	char greet[4096];
	if (read_line(c, greet, sizeof(greet), TIMEOUT_MS) < 0 ||
	    !strstr(greet, "\"QMP\"")) {
		fprintf(stderr, "fsb-qmp: %s: no QMP greeting\n", path);
		return -1;
	}
	return execute(c, "{\"execute\":\"qmp_capabilities\"}", NULL, NULL) ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fsb-qmp SOCKET --log FILE | fsb-qmp SOCKET CMD...\n");
		return 2;
	}
	static struct conn c;
	if (qmp_connect(&c, argv[1]) < 0)
		return 1;
	if (strcmp(argv[2], "--log") == 0) {
		if (argc != 4) {
			fprintf(stderr, "fsb-qmp: --log takes one FILE\n");
			return 2;
		}
		FILE *log = fopen(argv[3], "a");
		if (!log) {
			fprintf(stderr, "fsb-qmp: %s: %s\n", argv[3], strerror(errno));
			return 1;
		}
		setvbuf(log, NULL, _IOLBF, 0);
		fprintf(log, "%llu {\"event\": \"FSB_QMP_CONNECTED\"}\n", now_ns());
		char line[65536];
		/* until QEMU closes the socket: no timeout */
		while (read_line(&c, line, sizeof(line), -1) == 0)
			if (is_event(line))
				fprintf(log, "%llu %s\n", now_ns(), line);
		fclose(log);
		return 0;
	}
	int rc = 0;
	for (int i = 2; i < argc && !rc; i++) {
		char cmd[8192];
		if (argv[i][0] == '{')
			snprintf(cmd, sizeof(cmd), "%s", argv[i]);
		else
			snprintf(cmd, sizeof(cmd), "{\"execute\":\"%s\"}", argv[i]);
		rc = execute(&c, cmd, NULL, stdout);
	}
	close(c.fd);
	return rc;
}
