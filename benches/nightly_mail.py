"""A night's new mail for benches/cache.sh --nightly: STORE gains PERCENT% new messages.

    python3 benches/nightly_mail.py STORE PERCENT

- Maildir: for PERCENT% of the files in the `cur/` folders (evenly spread), a new file
  with a new unique name in the `new/` folder beside it, with the same bytes (tonight's
  mail holds duplicates of older mail, as after a re-download).
- mbox: the largest `.mbox` file gains PERCENT% of its messages again, appended at its
  end (the file only grows, as when a delivery agent appends).
"""

import os
import sys


def main():
    root, pct = sys.argv[1], float(sys.argv[2])
    maildir_files, mboxes = [], []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        files.sort()
        if os.path.basename(d) == "cur":
            maildir_files += [os.path.join(d, f) for f in files]
        mboxes += [os.path.join(d, f) for f in files if f.endswith(".mbox")]
    n = int(len(maildir_files) * pct / 100)
    step = max(1, len(maildir_files) // max(n, 1))
    for i, src in enumerate(maildir_files[::step][:n]):
        new = os.path.join(
            os.path.dirname(os.path.dirname(src)), "new", "1800000000.M%dP%d.nightly" % (i, i)
        )
        with open(src, "rb") as f, open(new, "wb") as g:
            g.write(f.read())
    appended, name = 0, "-"
    if mboxes:
        mb = max(mboxes, key=os.path.getsize)
        name = os.path.basename(mb)
        with open(mb, "rb") as f:
            data = f.read()
        starts = [0]
        at = data.find(b"\n\nFrom ")
        while at >= 0:
            starts.append(at + 2)
            at = data.find(b"\n\nFrom ", at + 2)
        appended = max(1, int(len(starts) * pct / 100))
        first = starts[-appended - 1] if len(starts) > appended else 0
        tail = data[first : starts[-1]]
        with open(mb, "ab") as g:
            if not data.endswith(b"\n\n"):
                g.write(b"\n" if data.endswith(b"\n") else b"\n\n")
            g.write(tail)
    print(f"night: {n} new Maildir messages, {appended} messages appended to {name}")


if __name__ == "__main__":
    main()
