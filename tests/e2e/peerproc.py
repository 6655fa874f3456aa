"""The subprocess plumbing shared by the test servers smtp_peer.py and
sms_gateway.py.

The parent side is PeerProcess, a base class: it starts the server module
itself as a child (`/usr/bin/python3 <module> --serve CONFIG_JSON`, in its
own session, stderr appended to <dir>/<STDERR_LOG>), waits for the child's
`READY <port>` line, stops it with SIGTERM (SIGKILL after 10 s), and is a
context manager (start() / stop()).  A subclass sets

    WHAT        'smtp peer', the name used in error messages
    NOUN        'peer', as in 'peer already started'
    STDERR_LOG  the child's stderr file name under dir
    SCRIPT      os.path.abspath(__file__) of the server module

and defines config() (the JSON object passed to the child; it may raise
ValueError for a bad setting).

Both sides share the JSONL log: <dir>/log.jsonl, one JSON object per line,
appended by the child (JsonlLog) and read by the parent, or by a restarted
child to recover its state (read_log).  The child announces itself with
ready(port); serve_main() is the server module's `__main__`.

Run with Debian's /usr/bin/python3 (stdlib only).
"""

import json
import os
import select
import signal
import subprocess
import sys
import time

LOG = 'log.jsonl'
PYTHON = '/usr/bin/python3'


def read_log(dirpath):
    """The records of log.jsonl; a last line still being written is skipped."""
    try:
        with open(os.path.join(dirpath, LOG), 'rb') as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    out = []
    for line in raw.split(b'\n'):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


class JsonlLog:
    """The child's side of log.jsonl: write(**record) appends one line
    (with 't', the time) in a single write."""

    def __init__(self, dirpath):
        self.fd = os.open(os.path.join(dirpath, LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                          0o644)

    def write(self, **ev):
        ev = dict(t=time.time(), **ev)
        os.write(self.fd, (json.dumps(ev, sort_keys=True) + '\n').encode())


def ready(port):
    """The child's last word to start(): it listens on `port`."""
    sys.stdout.write('READY %d\n' % port)
    sys.stdout.flush()


def serve_main(serve, usage):
    """A server module's `__main__`: serve(config) for `--serve CONFIG_JSON`,
    otherwise exit with `usage`."""
    if len(sys.argv) == 3 and sys.argv[1] == '--serve':
        serve(json.loads(sys.argv[2]))
    else:
        sys.exit(usage)


class PeerProcess:
    WHAT = 'server'
    NOUN = 'server'
    STDERR_LOG = 'stderr.log'
    SCRIPT = None

    def __init__(self, dirpath, port, host):
        self.dir = os.path.abspath(dirpath)
        self.port = port
        self.host = host
        self.proc = None
        os.makedirs(self.dir, exist_ok=True)

    def config(self):
        """The JSON object the child's serve() gets."""
        raise NotImplementedError

    def start(self, timeout=15):
        if self.proc is not None:
            raise RuntimeError('%s already started' % self.NOUN)
        cfg = self.config()
        err = open(os.path.join(self.dir, self.STDERR_LOG), 'ab')
        try:
            self.proc = subprocess.Popen(
                [PYTHON, self.SCRIPT, '--serve', json.dumps(cfg)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                close_fds=True, start_new_session=True)
        finally:
            err.close()
        deadline = time.monotonic() + timeout
        line = b''
        while not line.endswith(b'\n'):
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not r:
                self._abort('did not start within %ss' % timeout)
            chunk = os.read(self.proc.stdout.fileno(), 256)
            if not chunk:
                self._abort('exited while starting')
            line += chunk
        self.proc.stdout.close()
        words = line.decode().split()
        if len(words) != 2 or words[0] != 'READY':
            self._abort('said %r' % line)
        self.port = int(words[1])
        return self

    def _abort(self, why):
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.kill()
        p.wait()
        raise RuntimeError('%s %s\n%s' % (self.WHAT, why, self.stderr_tail()))

    def stderr_tail(self, n=4000):
        try:
            with open(os.path.join(self.dir, self.STDERR_LOG), 'rb') as f:
                return f.read()[-n:].decode('utf-8', 'replace')
        except OSError:
            return ''

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stops the server (open connections are cut).  Raises if it had
        died on its own."""
        p, self.proc = self.proc, None
        if p is None:
            return
        died = p.poll()
        if died is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if died is not None:
            raise RuntimeError('%s had died (exit %s)\n%s' % (self.WHAT, died, self.stderr_tail()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def __del__(self):
        p = getattr(self, 'proc', None)
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()

    def check_stopped(self, what):
        """Raises unless the server is stopped (`what` needs it stopped)."""
        if self.running():
            raise RuntimeError('%s needs the %s stopped' % (what, self.NOUN))

    def events(self):
        """Every record of log.jsonl, in order."""
        return read_log(self.dir)
