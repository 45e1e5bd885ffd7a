# SPDX-License-Identifier: BSD-3-Clause
# src/: the core.  Everything is compiled once into the convenience
# library libfsb_internal.la, which both libfsb.la (the installed,
# symbol-versioned .so) and the tests link, so tests reach internals
# while users see only FSB_API symbols.
noinst_LTLIBRARIES += src/libfsb_internal.la
src_libfsb_internal_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(LIBEV_CFLAGS) $(NUMA_CFLAGS) $(MNL_CFLAGS)
src_libfsb_internal_la_LIBADD = $(LIBEV_LIBS) $(NUMA_LIBS) $(MNL_LIBS) $(PTHREAD_LIBS)
src_libfsb_internal_la_SOURCES = \
	src/fsb/fsb.h \
	src/fsb_private.h \
	src/log.c \
	src/ctx.c \
	src/spec.c \
	src/ring.h src/ring.c \
	src/mempool.c \
	src/loop.h src/loop.c \
	src/devsignal.h \
	src/nlmon.h src/nlmon.c \
	src/netlink.h src/netlink.c \
	src/uevent.h src/uevent.c \
	src/sigbus.h src/sigbus.c \
	src/vfio.h src/vfio.c \
	src/port.h src/port.c \
	src/sync.c \
	src/qsbr.h src/qsbr.c \
	src/burst.c \
	src/replay.c \
	src/stats.c \
	src/route.h src/route.c \
	src/ctl.c \
	src/telemetry.c \
	src/bare.c

lib_LTLIBRARIES += src/libfsb.la
src_libfsb_la_SOURCES =
src_libfsb_la_LIBADD = src/libfsb_internal.la
src_libfsb_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(FSB_LT_VERSION) \
	-Wl,--version-script=$(top_srcdir)/src/libfsb.map
EXTRA_src_libfsb_la_DEPENDENCIES = $(top_srcdir)/src/libfsb.map
EXTRA_DIST += src/libfsb.map

fsbincludedir = $(includedir)/fsb
fsbinclude_HEADERS = src/fsb/fsb.h

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = src/libfsb.pc

bin_PROGRAMS += src/fsb-fwd
src_fsb_fwd_SOURCES = src/fsb-fwd.c src/fsb-check.h
src_fsb_fwd_LDADD = src/libfsb.la $(PTHREAD_LIBS)

bin_PROGRAMS += src/fsbctl
src_fsbctl_SOURCES = src/fsbctl.c

# Bash completion for fsbctl, fsb-fwd and fsb-drill: one file, found by
# bash-completion under each command's name (a link per command).
bashcompletion_DATA = src/fsb.bash-completion
EXTRA_DIST += src/fsb.bash-completion
FSB_COMPLETED = fsbctl fsb-fwd fsb-drill
install-data-hook: install-completion-links
install-completion-links:
	cd "$(DESTDIR)$(bashcompletiondir)" && \
	for c in $(FSB_COMPLETED); do \
		rm -f "$$c" && $(LN_S) fsb.bash-completion "$$c" || exit 1; \
	done
uninstall-hook: uninstall-completion-links
uninstall-completion-links:
	for c in $(FSB_COMPLETED); do rm -f "$(DESTDIR)$(bashcompletiondir)/$$c"; done
.PHONY: install-completion-links uninstall-completion-links
