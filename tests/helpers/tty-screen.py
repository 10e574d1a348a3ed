#!/usr/bin/python3
"""Run a command on a pseudo-terminal and show what a terminal would show.

    tty-screen.py COLUMNS RAW SCREEN -- COMMAND...

The command's output (stdout and stderr, both on the terminal) is kept
byte for byte in RAW; SCREEN gets the lines a terminal COLUMNS wide holds
at the end, after cursor movement and erasing (the escape sequences the
live view uses: cursor up, erase below, erase line, colours), with long
lines wrapped as a terminal wraps them.  Exits with the command's status.
"""
import fcntl
import os
import pty
import re
import struct
import sys
import termios


def render(data, cols):
    screen = [""]
    row = col = 0
    text = data.decode("utf-8", "replace")
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":
            m = re.match(r"\x1b\[([0-9;]*)([A-Za-z])", text[i:])
            if not m:
                i += 1
                continue
            arg, cmd = m.group(1), m.group(2)
            n = int(arg) if arg.isdigit() else 1
            if cmd == "A":
                row = max(0, row - n)
            elif cmd == "J":  # erase from the cursor to the end of the screen
                screen[row] = screen[row][:col]
                del screen[row + 1:]
            elif cmd == "K":
                screen[row] = screen[row][:col]
            i += len(m.group(0))
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
            if row == len(screen):
                screen.append("")
        else:
            if col >= cols:  # the terminal wraps
                row += 1
                col = 0
                if row == len(screen):
                    screen.append("")
            line = screen[row].ljust(col)
            screen[row] = line[:col] + ch + line[col + 1:]
            col += 1
        i += 1
    while screen and screen[-1] == "":
        screen.pop()
    return screen


def main():
    cols = int(sys.argv[1])
    raw_path, screen_path = sys.argv[2], sys.argv[3]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.environ.pop("NO_COLOR", None)
        os.execvp(cmd[0], cmd)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    open(raw_path, "wb").write(data)
    open(screen_path, "w").write("\n".join(render(data, cols)) + "\n")
    sys.exit(os.waitstatus_to_exitcode(status))


main()
