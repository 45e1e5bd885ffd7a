# SPDX-License-Identifier: BSD-3-Clause
# migration/: announce (GARP/RARP/NA), STANDBY handling and fsb-drill.
src_libfsb_internal_la_SOURCES += \
	migration/announce_frame.h \
	migration/announce_frame.c \
	migration/announce.h \
	migration/announce.c
EXTRA_DIST += migration/README

# fsb-drill: the runner (a script, installed in sbin), its sink (fsb-peer:
# the outside counter of the drill, the demo, the netns tests and the
# benches) and its judge (fsb-drill-report), both in the package's
# libexec directory, and the topology it shares with the tests.
pkglibexec_PROGRAMS = migration/fsb-peer migration/fsb-drill-report
migration_fsb_peer_SOURCES = migration/fsb-peer.c src/fsb-check.h
migration_fsb_peer_LDADD = $(PTHREAD_LIBS)
migration_fsb_drill_report_SOURCES = migration/drill_report.c
migration_fsb_drill_report_LDADD = -lm
sbin_SCRIPTS = migration/fsb-drill
dist_pkgdata_DATA = migration/netns-lib.sh
EXTRA_DIST += migration/fsb-drill.in
CLEANFILES += migration/fsb-drill
migration/fsb-drill: $(top_srcdir)/migration/fsb-drill.in Makefile
	$(AM_V_GEN)$(MKDIR_P) migration && sed \
		-e 's|[@]VERSION[@]|$(VERSION)|g' \
		-e 's|[@]PACKAGE[@]|$(PACKAGE)|g' \
		-e 's|[@]pkglibexecdir[@]|$(pkglibexecdir)|g' \
		-e 's|[@]pkgdatadir[@]|$(pkgdatadir)|g' \
		-e 's|[@]bindir[@]|$(bindir)|g' \
		-e 's|[@]abs_top_srcdir[@]|$(abs_top_srcdir)|g' \
		$(top_srcdir)/migration/fsb-drill.in >$@.tmp && chmod +x $@.tmp && mv $@.tmp $@
