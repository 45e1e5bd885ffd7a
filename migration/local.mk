# SPDX-License-Identifier: BSD-3-Clause
# migration/: announce (GARP/RARP/NA), STANDBY handling and fsb-drill.
# Nothing is built here yet: the migration issue fills it.
EXTRA_DIST += migration/README
