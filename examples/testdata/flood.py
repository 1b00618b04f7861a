# Clients that each send 10 MB to an echo server without reading, until the server stops
# reading them; then how much the server's resident memory grew; then they read everything
# back while sending the rest, and every byte is checked.
import os, select, socket, sys, time

port, pid, clients = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
TOTAL = 10 * 1000 * 1000
data = memoryview((bytes(range(251)) * (TOTAL // 251 + 1))[:TOTAL])


def rss_kib():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def connect():
    # A small receive buffer: what the client does not read stays with the server, not here.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.connect(("127.0.0.1", port))
    return s


socks = [connect() for _ in range(clients)]
for s in socks:
    s.setblocking(False)
time.sleep(0.2)
before = rss_kib()
sent = [0] * clients
start = time.monotonic()
last_progress = start
# Phase 1: write only, until nobody made progress for 1 s (or everything went).
while time.monotonic() - last_progress < 1.0 and time.monotonic() - start < 30:
    pending = [s for i, s in enumerate(socks) if sent[i] < TOTAL]
    if not pending:
        break
    _, writable, _ = select.select([], pending, [], 0.1)
    for s in writable:
        i = socks.index(s)
        try:
            n = s.send(data[sent[i]:sent[i] + 262144])
        except BlockingIOError:
            continue
        if n > 0:
            sent[i] += n
            last_progress = time.monotonic()
growth = rss_kib() - before
# Phase 2: read everything back (and send the rest), checking every byte.
received = [0] * clients
ok = True
start = time.monotonic()
while any(r < TOTAL for r in received) and time.monotonic() - start < 60:
    readers = [s for i, s in enumerate(socks) if received[i] < TOTAL]
    writers = [s for i, s in enumerate(socks) if sent[i] < TOTAL]
    readable, writable, _ = select.select(readers, writers, [], 1.0)
    for s in writable:
        i = socks.index(s)
        try:
            sent[i] += s.send(data[sent[i]:sent[i] + 262144])
        except BlockingIOError:
            pass
    for s in readable:
        i = socks.index(s)
        chunk = s.recv(262144)
        if not chunk:
            ok = False
            received[i] = TOTAL
            continue
        if data[received[i]:received[i] + len(chunk)] != chunk:
            ok = False
        received[i] += len(chunk)
for s in socks:
    s.close()
print(f"growth_kib={growth} {'verified' if ok and all(r == TOTAL for r in received) else 'CORRUPT'}")
