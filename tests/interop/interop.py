#!/usr/bin/env python3
"""Helper of tests/interop/run.sh: the stores of a test tree, the message count each
should hold in each phase, and Python's own reading of a store.

  interop.py stores MAILDEDUP TREE REPORT > stores.tsv
      Finds the stores under TREE (Maildir, Maildir++ subfolders, mbox files; never
      through a symlink), counts each one's messages with `MAILDEDUP scan --json` run on
      that store alone, and checks that the stores and counts add up to REPORT (the
      `scan --json` report of the whole TREE). Prints one line per store:
      kind <TAB> messages <TAB> extra_copies <TAB> path <TAB> dovecot_root <TAB> dovecot_mailbox
      where extra_copies is how many of its copies REPORT marks as extra (`keep: false`).

  interop.py count KIND PATH
      Python's stdlib `mailbox` reading the store (every message's bytes are read):
      prints the number of messages. KIND is maildir or mbox.

Exit status: 0 ok, 1 the stores do not add up to the report, 2 usage or I/O error.
"""

import json
import mailbox
import os
import subprocess
import sys


def is_mbox(path):
    """A regular file that starts (after a UTF-8 BOM and blank lines) with `From `."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.lstrip(b"\r\n").startswith(b"From ")


def is_maildir(path):
    return any(os.path.isdir(os.path.join(path, d)) for d in ("cur", "new"))


def find_stores(tree):
    """(kind, path, dovecot_root, dovecot_mailbox) for every store under tree."""
    out = []

    def walk(d):
        names = sorted(os.listdir(d))
        if is_maildir(d):
            out.append(("maildir", d, d, "INBOX"))
            for n in names:
                p = os.path.join(d, n)
                if n.startswith(".") and not os.path.islink(p) and os.path.isdir(p) and is_maildir(p):
                    # Maildir++: ".A.B" is the mailbox "A.B" of the Maildir at d.
                    out.append(("maildir", p, d, n[1:]))
            return
        for n in names:
            p = os.path.join(d, n)
            if os.path.islink(p) or n.startswith("."):
                continue
            if os.path.isdir(p):
                walk(p)
            elif os.path.isfile(p) and is_mbox(p):
                out.append(("mbox", p, p, "INBOX"))

    walk(tree)
    return out


def scan(binary, path):
    r = subprocess.run([binary, "scan", "--json", path], capture_output=True)
    if r.returncode != 0:
        sys.exit(f"interop.py: `{binary} scan --json {path}` exited {r.returncode}: "
                 f"{r.stderr.decode(errors='replace')}")
    return json.loads(r.stdout)


def not_mail(report):
    """Maildir files the report skipped as not mail (other readers take them for messages)."""
    return sum(1 for s in report["skipped"]
               if s["reason"].startswith("not mail: does not begin")
               and os.path.basename(os.path.dirname(s["path"])) in ("cur", "new"))


def cmd_stores(binary, tree, report_path):
    tree = os.path.realpath(tree)
    with open(report_path) as f:
        report = json.load(f)
    stores = find_stores(tree)
    counts = {}
    for kind, path, root, _ in stores:
        r = scan(binary, path)
        # A file in cur/ or new/ that does not begin with a header field is skipped as
        # "not mail" (docs/discovery.md, "Only mail is mail"); the other readers count every file.
        counts[path] = r["summary"]["messages"] + not_mail(r)
    # Scanning a Maildir++ root also scans its subfolders: take them off again.
    for kind, path, root, box in stores:
        if kind == "maildir" and box != "INBOX":
            counts[root] -= counts[path]

    def store_of(copy):
        p = copy["path"]
        if copy["offset"] is not None:
            return p
        return os.path.dirname(os.path.dirname(p))  # .../STORE/cur/NAME

    extras = {path: 0 for _, path, _, _ in stores}
    unknown = []
    for g in report["groups"]:
        for c in g["copies"]:
            if not c["keep"]:
                s = store_of(c)
                if s in extras:
                    extras[s] += 1
                else:
                    unknown.append(s)
    problems = []
    summ = report["summary"]
    if len(stores) != summ["stores"]:
        problems.append(f"found {len(stores)} stores, the report has {summ['stores']}")
    if sum(counts.values()) != summ["messages"] + not_mail(report):
        problems.append(f"the stores hold {sum(counts.values())} messages one by one, "
                        f"the report of the whole tree {summ['messages']}")
    if unknown:
        problems.append(f"extra copies in stores not found: {sorted(set(unknown))}")
    if sum(extras.values()) + len(unknown) != summ["extra_copies"]:
        problems.append("extra copies do not add up to summary.extra_copies")
    for kind, path, root, box in stores:
        print("\t".join([kind, str(counts[path]), str(extras[path]), path, root, box]))
    if problems:
        for p in problems:
            print(f"interop.py: {p}", file=sys.stderr)
        sys.exit(1)


def cmd_count(kind, path):
    n = 0
    if kind == "maildir":
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in box.keys():
            box.get_bytes(key)
            n += 1
    elif kind == "mbox":
        box = mailbox.mbox(path, factory=None, create=False)
        for key in box.keys():
            box.get_bytes(key)
            n += 1
        box.close()
    else:
        sys.exit(f"interop.py: unknown kind {kind}")
    print(n)


def main(argv):
    if len(argv) == 5 and argv[1] == "stores":
        cmd_stores(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "count":
        cmd_count(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
