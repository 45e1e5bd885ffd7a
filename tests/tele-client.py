#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""tele-client.py - a raw client of the control socket (DPDK telemetry
v2's wire protocol) for tests/telemetry.sh: what dpdk-telemetry.py does
not do (hostile requests, many clients, a client that never reads).

  tele-client.py req PATH REQ...    one connection: the hello, then each
                                    request's reply, one line each
                                    (REQ may hold \\xNN escapes)
  tele-client.py flood PATH N       N connections at once: "hello K
                                    refused M", then one more request on
                                    the first, after the others closed
  tele-client.py noread PATH N      send N requests without reading a
                                    reply: "dropped" when the server let
                                    go of us, else "kept"
"""
import socket
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    return s


def main():
    what, path = sys.argv[1], sys.argv[2]
    if what == "req":
        s = connect(path)
        print(s.recv(1024).decode())
        for r in sys.argv[3:]:
            s.send(r.encode("latin-1").decode("unicode_escape").encode("latin-1"))
            print(s.recv(1 << 20).decode())
        return 0
    if what == "flood":
        socks, hello, refused = [], 0, 0
        for _ in range(int(sys.argv[3])):
            s = connect(path)
            m = s.recv(1024).decode()
            if '"max_output_len"' in m:
                hello += 1
                socks.append(s)
            elif '"error"' in m:
                refused += 1
                s.close()
        print("hello %d refused %d" % (hello, refused))
        for s in socks[1:]:
            s.close()
        socks[0].send(b"/info")
        print(socks[0].recv(1 << 20).decode())
        return 0
    if what == "noread":
        s = connect(path)
        s.recv(1024)
        s.setblocking(False)
        sent, stalls = 0, 0
        try:
            while sent < int(sys.argv[3]):
                try:
                    s.send(b"/ethdev/xstats,0")
                    sent += 1
                except BlockingIOError:
                    # our requests wait unread: the server is busy
                    # with the replies we do not read; never read
                    stalls += 1
                    if stalls > 100:
                        break
                    time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        # the server drops a client whose replies it cannot queue: the
        # connection then ends (read what was queued, then EOF)
        s.setblocking(True)
        s.settimeout(10)
        try:
            while True:
                m = s.recv(1 << 20)
                if not m:
                    print("dropped after %d requests" % sent)
                    return 0
        except (ConnectionResetError, BrokenPipeError):
            print("dropped after %d requests" % sent)
            return 0
        except socket.timeout:
            print("kept after %d requests" % sent)
            return 0
    print("usage: tele-client.py req|flood|noread PATH ...", file=sys.stderr)
    return 2


sys.exit(main())
