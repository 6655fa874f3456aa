#!/usr/bin/python3
"""`history purge` as a compliance officer meets it (issue 17, point 4):
it never runs on a broken chain (its row would vouch for what it removes
and `verify` would turn green), never removes a row dated on or after its
date (one row from a clock set back must not carry today's rows away), and
never forks the chain when other commands append at the same time."""
import sqlite3
import subprocess

import e2e

PARTIES = 'ref,kind,name,email\nC1,client,Boulangerie Lefèvre,accueil@lefevre.fr\n'


class PurgeCase(e2e.PostierCase):
    def setUp(self):
        super().setUp()
        self.append_config('\n[history]\nretention_min_days = 0\n')

    def at(self, when, *args):
        """postier ARGS under `faketime WHEN` (history rows dated then)."""
        env = self.postier_env({'FAKETIME_DONT_FAKE_MONOTONIC': '1', 'TZ': 'UTC'})
        env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') +
                               ':verify_asan_link_order=0').lstrip(':')
        p = subprocess.run(['faketime', when] + self.postier_argv(*args), cwd=self.tmp,
                           env=env, input=b'', stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=e2e.TIMEOUT)
        r = e2e.Result(list(args), p.returncode, p.stdout.decode(), p.stderr.decode())
        self.assertEqual(r.rc, 0, r)
        return r

    def add(self, name, when=None):
        args = ('contacts', 'add', '--party', 'C1', '--last-name', name,
                '--email', '%s@lefevre.fr' % name.lower())
        return self.at(when, *args) if when else self.ok(*args)

    def count(self):
        return self.sql('SELECT count(*) FROM history')[0][0]

    def intact(self):
        r = self.ok('history', 'verify')
        self.assertIn('intact', r.out)

    def broken(self):
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('BROKEN at row 3', r.out)

    def test_a_broken_chain_is_not_purged(self):
        self.at('2024-06-01 12:00:00', 'parties', 'import', self.write('p.csv', PARTIES))
        for i in range(3):
            self.add('Ancien%d' % i, '2024-06-02 12:00:00')
        self.add('Recent')
        con = sqlite3.connect(self.path('postier.db'))
        con.executescript("DROP TRIGGER history_no_update;"
                          "UPDATE history SET address = 'eve@evil.example' WHERE id = 3;")
        con.commit()
        con.close()
        before = self.count()
        self.broken()
        self.fails('history', 'purge', '--before', '2025-01-01', rc=1, contains='purge refused')
        self.assertEqual(self.count(), before)
        self.broken()

    def test_a_row_from_a_clock_set_back_keeps_the_rows_after_it(self):
        self.ok('parties', 'import', self.write('p.csv', PARTIES))
        self.add('Horloge', '2001-01-01 12:00:00')
        self.add('Apres')
        before = self.count()
        r = self.ok('history', 'purge', '--before', '2025-01-01')
        # the import row (today) comes before the 2001 row: nothing goes
        self.assertIn('no history row before', r.out)
        self.assertEqual(self.count(), before)
        self.intact()

    def test_purge_among_concurrent_appends_keeps_one_chain(self):
        self.ok('parties', 'import', self.write('p.csv', PARTIES))
        for round_ in range(3):
            procs = []
            for i in range(8):
                procs.append(subprocess.Popen(
                    self.postier_argv('contacts', 'add', '--party', 'C1', '--last-name',
                                      'Z%d%d' % (round_, i), '--email',
                                      'z%d%d@lefevre.fr' % (round_, i)),
                    cwd=self.tmp, env=self.postier_env(), stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE))
                if i == 3:  # every row is older than tomorrow: the newest goes too
                    procs.append(subprocess.Popen(
                        self.postier_argv('history', 'purge', '--before', '2999-01-01'),
                        cwd=self.tmp, env=self.postier_env(), stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE))
            for p in procs:
                out, err = p.communicate(timeout=e2e.TIMEOUT)
                self.assertEqual(p.returncode, 0, (p.args, err))
            self.intact()


if __name__ == '__main__':
    e2e.main()
