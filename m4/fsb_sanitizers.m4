dnl SPDX-License-Identifier: BSD-3-Clause
dnl FSB_SANITIZERS: --enable-asan, --enable-ubsan, --enable-tsan.
dnl TSan cannot share a build with ASan, so asking for both is an error.
AC_DEFUN([FSB_SANITIZERS], [
  AC_ARG_ENABLE([asan], [AS_HELP_STRING([--enable-asan], [build with AddressSanitizer])],
    [], [enable_asan=no])
  AC_ARG_ENABLE([ubsan], [AS_HELP_STRING([--enable-ubsan], [build with UndefinedBehaviorSanitizer])],
    [], [enable_ubsan=no])
  AC_ARG_ENABLE([tsan], [AS_HELP_STRING([--enable-tsan], [build with ThreadSanitizer (not with ASan)])],
    [], [enable_tsan=no])
  SAN_CFLAGS=""
  AS_IF([test "x$enable_tsan" = xyes && test "x$enable_asan" = xyes],
    [AC_MSG_ERROR([--enable-tsan cannot be combined with --enable-asan: use separate builds])])
  AS_IF([test "x$enable_asan" = xyes], [SAN_CFLAGS="$SAN_CFLAGS -fsanitize=address"])
  AS_IF([test "x$enable_ubsan" = xyes], [SAN_CFLAGS="$SAN_CFLAGS -fsanitize=undefined -fno-sanitize-recover=undefined"])
  AS_IF([test "x$enable_tsan" = xyes], [SAN_CFLAGS="$SAN_CFLAGS -fsanitize=thread"])
  AS_IF([test "x$SAN_CFLAGS" != x], [SAN_CFLAGS="$SAN_CFLAGS -fno-omit-frame-pointer -g -O1"])
  AC_SUBST([SAN_CFLAGS])
  AM_CONDITIONAL([FSB_TSAN], [test "x$enable_tsan" = xyes])
  AM_CONDITIONAL([FSB_ASAN], [test "x$enable_asan" = xyes])
])
