dnl SPDX-License-Identifier: BSD-3-Clause
dnl FSB_FUZZ: --enable-fuzz builds the libFuzzer targets (tests/fuzz/fuzz_*).
dnl libFuzzer ships with clang, not GCC: configure with CC=clang.  The
dnl replay driver (no libFuzzer) is built and run by 'make check' always.
AC_DEFUN([FSB_FUZZ], [
  AC_ARG_ENABLE([fuzz], [AS_HELP_STRING([--enable-fuzz],
    [build libFuzzer targets (needs CC=clang)])], [], [enable_fuzz=no])
  FUZZ_CFLAGS=""
  AS_IF([test "x$enable_fuzz" = xyes], [
    fsb_fuzz_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -fsanitize=fuzzer"
    AC_MSG_CHECKING([whether $CC links libFuzzer targets])
    AC_LINK_IFELSE([AC_LANG_SOURCE([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }
]])], [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no])
       AC_MSG_ERROR([--enable-fuzz needs a compiler with libFuzzer: CC=clang])])
    CFLAGS=$fsb_fuzz_save_CFLAGS
    FUZZ_CFLAGS="-fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -g"
  ])
  AC_SUBST([FUZZ_CFLAGS])
  AM_CONDITIONAL([FSB_FUZZ], [test "x$enable_fuzz" = xyes])
])
