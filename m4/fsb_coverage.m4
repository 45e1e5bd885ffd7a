dnl SPDX-License-Identifier: BSD-3-Clause
dnl FSB_COVERAGE: --enable-coverage builds with gcov instrumentation and
dnl needs lcov/genhtml for 'make coverage'.
AC_DEFUN([FSB_COVERAGE], [
  AC_ARG_ENABLE([coverage], [AS_HELP_STRING([--enable-coverage], [gcov instrumentation and 'make coverage' (lcov)])],
    [], [enable_coverage=no])
  COV_CFLAGS=""; COV_LIBS=""
  AS_IF([test "x$enable_coverage" = xyes], [
    AC_PATH_PROG([LCOV], [lcov])
    AC_PATH_PROG([GENHTML], [genhtml])
    AS_IF([test "x$LCOV" = x || test "x$GENHTML" = x],
      [AC_MSG_ERROR([--enable-coverage needs lcov and genhtml: install lcov])])
    COV_CFLAGS="--coverage -O0 -g"; COV_LIBS="--coverage"])
  AC_SUBST([COV_CFLAGS])
  AC_SUBST([COV_LIBS])
  AM_CONDITIONAL([FSB_COVERAGE], [test "x$enable_coverage" = xyes])
])
