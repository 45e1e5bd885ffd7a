dnl SPDX-License-Identifier: BSD-3-Clause
dnl FSB_CHECK_LIBEV: find libev.
dnl libev ships no pkg-config file on Debian, so: honour LIBEV_CFLAGS/LIBEV_LIBS
dnl when the user gives them, else try pkg-config ("libev"), else look for
dnl <ev.h> and ev_run in -lev.  Sets and substitutes LIBEV_CFLAGS/LIBEV_LIBS.
AC_DEFUN([FSB_CHECK_LIBEV], [
  AC_ARG_VAR([LIBEV_CFLAGS], [C compiler flags for libev])
  AC_ARG_VAR([LIBEV_LIBS], [linker flags for libev])
  fsb_have_libev=no
  AS_IF([test "x$LIBEV_LIBS" != x], [fsb_have_libev=given],
    [PKG_CHECK_MODULES([LIBEV], [libev], [fsb_have_libev=pkgconfig], [:])])
  AS_IF([test "x$fsb_have_libev" = xno], [LIBEV_LIBS=-lev])
  fsb_save_CFLAGS=$CFLAGS; fsb_save_LIBS=$LIBS
  CFLAGS="$CFLAGS $LIBEV_CFLAGS"; LIBS="$LIBEV_LIBS $LIBS"
  AC_CHECK_HEADER([ev.h], [],
    [AC_MSG_ERROR([libev header ev.h not found: install libev-dev or set LIBEV_CFLAGS])])
  AC_MSG_CHECKING([for ev_run with $LIBEV_LIBS])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <ev.h>]],
                   [[struct ev_loop *l = ev_loop_new(0); ev_run(l, EVRUN_NOWAIT);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([libev not usable: install libev-dev or set LIBEV_LIBS])])
  CFLAGS=$fsb_save_CFLAGS; LIBS=$fsb_save_LIBS
  AC_SUBST([LIBEV_CFLAGS])
  AC_SUBST([LIBEV_LIBS])
])

dnl AX_PTHREAD_SIMPLE: we only target Linux/glibc, where -pthread is it.
AC_DEFUN([AX_PTHREAD_SIMPLE], [
  PTHREAD_CFLAGS=-pthread; PTHREAD_LIBS=-pthread
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
