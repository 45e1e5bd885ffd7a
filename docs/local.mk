# SPDX-License-Identifier: BSD-3-Clause
# docs/: user guide and man pages.
dist_man_MANS += docs/fsb-fwd.8 docs/fsb-drill.8 docs/fsbctl.8 docs/libfsb.3
EXTRA_DIST += docs/guide.md docs/drill-remove.svg docs/drill-migrate.svg
