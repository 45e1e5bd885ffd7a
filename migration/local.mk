# SPDX-License-Identifier: BSD-3-Clause
# migration/: announce (GARP/RARP/NA), STANDBY handling and fsb-drill.
src_libfsb_internal_la_SOURCES += \
	migration/announce_frame.h \
	migration/announce_frame.c \
	migration/announce.h \
	migration/announce.c
EXTRA_DIST += migration/README
