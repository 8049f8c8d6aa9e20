#!/usr/bin/env python3
"""Stores that stress the HTML chart (tests/html_render.sh, .ci/run):

  python3 tests/gen_chart_stores.py DIR

DIR/one-copy: 30 messages, one of them delivered twice (a single extra copy).
DIR/burst: one message delivered 10,001 times within two hours (a 10,000-copy burst)
plus scattered weeks over a year where a message got 1 to 3 extra copies, in Maildir
folders with long dotted names (the group cards must wrap them at separators).
DIR/nightly: 80 re-download incidents on 80 nights in a row.
Deterministic; Maildir names and mtimes carry the delivery times.
"""
import os
import sys

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
DAY = 86_400


def message(i, sent):
    d = rfc2822(sent)
    return (
        f"Return-Path: <sender{i}@example.org>\n"
        f"Delivered-To: jane@example.com\n"
        f"Received: from out.example.org by mx.example.com (Postfix) with ESMTPS id 4Q{i:05}X; {d}\n"
        f"Message-ID: <chart-{i}@example.org>\n"
        f"From: Sender {i} <sender{i}@example.org>\n"
        f"To: jane@example.com\n"
        f"Subject: Chart test message {i}\n"
        f"Date: {d}\n\nBody of message {i}.\n"
    )


def rfc2822(t):
    import time
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


class Maildir:
    def __init__(self, root):
        self.root = root
        self.seq = 0
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    def deliver(self, t, text):
        self.seq += 1
        p = os.path.join(self.root, "cur",
                         f"{t}.M{self.seq}P{1000 + self.seq}.mx.example.com,S={len(text)}:2,S")
        with open(p, "w") as f:
            f.write(text)
        os.utime(p, (t, t))


def one_copy(root):
    md = Maildir(os.path.join(root, "Maildir"))
    for i in range(30):
        t = T0 + i * 7_919
        md.deliver(t, message(i, t - 3))
    md.deliver(T0 + 2 * DAY + 600, message(7, T0 + 7 * 7_919 - 3))


def burst(root):
    inbox = Maildir(os.path.join(root, "Maildir"))
    deep = Maildir(os.path.join(
        root, "Maildir", ".Archive.2024.Lists.rust-users-and-maildedup-announcements.incoming"))
    x = 0x9E3779B97F4A7C15

    def rnd(n):
        nonlocal x
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        return x % n

    # background: 400 unique messages over a year
    for i in range(400):
        t = T0 + rnd(365 * DAY)
        inbox.deliver(t, message(i, t - 3))
    # scattered weeks: a message copied 1 to 3 times, a few weeks apart
    for k, week in enumerate(range(2, 52, 5)):
        i = 1000 + k
        t = T0 + week * 7 * DAY + rnd(5 * DAY)
        deep.deliver(t, message(i, t - 3))
        for c in range(1 + rnd(3)):
            deep.deliver(t + (c + 1) * 3_600, message(i, t - 3))
    # the burst: one message, 10,000 extra copies over two hours in week 30
    i = 5000
    t = T0 + 30 * 7 * DAY
    inbox.deliver(t, message(i, t - 3))
    for c in range(10_000):
        inbox.deliver(t + 600 + c * 7200 // 10_000, message(i, t - 3))


def nightly(root):
    """A POP3 client that re-downloads a batch of 40 every night for 80 nights: 80
    incidents side by side, one per daily bar (their labels need lanes)."""
    inbox = Maildir(os.path.join(root, "Maildir"))
    x = 11

    def rnd(n):
        nonlocal x
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        return x % n

    for night in range(80):
        start = T0 + (200 + night) * DAY + 2 * 3_600
        for k in range(40):
            i = night * 40 + k
            t = T0 + rnd(180 * DAY)
            text = message(i, t - 5)
            inbox.deliver(t, text)
            inbox.deliver(start + rnd(600), text)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_chart_stores.py DIR")
    d = sys.argv[1]
    if os.path.exists(d):
        sys.exit(f"{d}: already exists; give a new folder")
    one_copy(os.path.join(d, "one-copy"))
    burst(os.path.join(d, "burst"))
    nightly(os.path.join(d, "nightly"))
    print(f"wrote {d}")


if __name__ == "__main__":
    main()
