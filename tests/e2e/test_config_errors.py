#!/usr/bin/python3
"""End-to-end: configuration errors surface at load (issue 17, point 6).
A bad value is an error naming the file and line at ANY command, exit 2,
nothing written: not only at `run`."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

BAD = [
    ('smtp', 'connections = 0', 'connections'),
    ('smtp', 'timeout = 0', 'timeout'),
    ('smtp', 'url = ftp://relay.example', 'ftp'),
    ('run', 'timezone = Europe/Atlantis', 'Europe/Atlantis'),
    ('sms', 'quiet_hours = 25:00-08:00', 'quiet_hours'),
    ('sms', 'quiet_hours = tonight', 'quiet_hours'),
    ('sms', 'quiet_days = sun,funday', 'quiet_days'),
    ('sms', 'quiet_days = mon,tue,wed,thu,fri,sat,sun', 'quiet_days'),
    ('smtp', 'url = smtp://', 'names no host'),
    ('smtp', 'url = smtp://127.0.0.1:99999', 'port'),
    ('smtp', 'connections = 100000', 'at most 64'),
    ('smtp', 'ca_file = /nonexistent/ca.pem', '/nonexistent/ca.pem'),
    ('smtp', 'url = smtp://postier:HUNTER2@127.0.0.1:25', 'username and password'),
    ('history', 'key_file =', 'key_file: empty'),
    ('history', 'retention_min_days = 40000', 'at most 36500'),
]
COMMANDS = [('contacts', 'list'), ('types', 'list'), ('history', 'verify'),
            ('run', '--dry-run'), ('documents', 'list')]


class ConfigErrors(e2e.PostierCase):
    def test_each_bad_value_fails_every_command_at_load(self):
        self.ok('types', 'add', '--code', 'exp', '--label', 'Expert')
        good = self.read_config()
        before = self.db_snapshot()
        for section, line, word in BAD:
            # a few lines of padding so the line number is not a guess
            text = good + '\n\n[%s]\n; padding\n%s\n' % (section, line)
            lineno = text.count('\n')
            self.write_config(text)
            for cmd in COMMANDS:
                with self.subTest(line=line, cmd=cmd):
                    r = self.fails(*cmd, rc=2,
                                   contains=('%s:%d' % (self.config, lineno), word))
                    self.assertEqual(r.out, '', r)
                    self.assertNotIn('HUNTER2', r.err)
            self.assertEqual(self.db_snapshot(), before, line)
        self.write_config(good)
        self.ok('types', 'list')

    def test_quiet_settings_that_are_fine_load(self):
        self.append_config('\n[sms]\nquiet_hours =\nquiet_days = sat, SUN\n')
        self.ok('types', 'list')


if __name__ == '__main__':
    e2e.main()
