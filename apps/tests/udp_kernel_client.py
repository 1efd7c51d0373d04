"""Kernel-side UDP client for the udp-echo interop test.

usage: udp_kernel_client.py SERVER PORT COUNT WINDOW CLOSED_PORT

Sends COUNT datagrams of sizes 0..=1472 (every size, in a stride) with random bytes, at
most WINDOW in flight, and matches each echo against what is in flight byte for byte.
Then sends one datagram to CLOSED_PORT on a connected socket and expects the ICMP port
unreachable to surface as ECONNREFUSED. Prints one summary line per check; exits 1 if
anything was lost, corrupt or not refused.
"""

import collections
import os
import socket
import sys
import time

MAX_PAYLOAD = 1472
PATIENCE = 2.0  # seconds without an echo before the rest in flight counts as lost


def wait_for_server(sock, addr):
    """Probe until the server echoes (it may still be starting; ARP runs first)."""
    sock.settimeout(0.1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sock.sendto(b"ready?", addr)
        try:
            data, src = sock.recvfrom(2048)
            if data == b"ready?" and src == addr:
                # Drain late echoes of earlier probes.
                try:
                    while True:
                        sock.recvfrom(2048)
                except socket.timeout:
                    return True
        except socket.timeout:
            pass
    return False


def exchange(sock, addr, count, window):
    in_flight = collections.Counter()
    sent = exact = corrupt = 0
    sock.settimeout(PATIENCE)
    while exact + corrupt < count:
        while sent < count and sum(in_flight.values()) < window:
            size = (sent * 397) % (MAX_PAYLOAD + 1)
            payload = os.urandom(size)
            sock.sendto(payload, addr)
            in_flight[payload] += 1
            sent += 1
        try:
            data, src = sock.recvfrom(2048)
        except socket.timeout:
            break
        if src == addr and in_flight[data] > 0:
            in_flight[data] -= 1
            exact += 1
        else:
            corrupt += 1
    lost = sum(in_flight.values()) + (count - sent)
    return sent, exact, corrupt, lost


def closed_port_refused(server, closed_port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((server, closed_port))
    s.settimeout(2.0)
    s.send(b"anyone there?")
    try:
        s.recv(2048)
        return "answered"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    finally:
        s.close()


def main():
    server, port, count, window, closed = sys.argv[1:6]
    addr = (server, int(port))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if not wait_for_server(sock, addr):
        print("server never answered")
        return 1
    start = time.monotonic()
    sent, exact, corrupt, lost = exchange(sock, addr, int(count), int(window))
    secs = time.monotonic() - start
    print(f"sent {sent} exact {exact} corrupt {corrupt} lost {lost} in {secs:.2f} s")
    verdict = closed_port_refused(server, int(closed))
    print(f"closed port: {verdict}")
    ok = exact == int(count) and corrupt == 0 and lost == 0 and verdict == "refused"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
