#!/usr/bin/python3
"""End-to-end: no silent empty installation (SPEC §6, §8).

Every command but `init` and `demo` exits 2 when no configuration file is
found (neither --config, POSTIER_CONFIG nor config/postier.ini under the
current folder) and writes nothing: it used to create ./postier.db and
report success.  An empty `[store] database =` is a configuration error
naming the file and the line."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

NO_CONFIG = "postier: no configuration: run 'postier init' or pass --config"

# one command of each kind a user might type first in a new folder
COMMANDS = [
    ['types', 'list'],
    ['types', 'add', '--label', 'Expert', '--code', 'exp'],
    ['parties', 'add', '--ref', 'C1', '--kind', 'client', '--name', 'Dupont'],
    ['contacts', 'list'],
    ['documents', 'list'],
    ['templates', 'list'],
    ['run'],
    ['run', '--date', '2026-12-07'],
    ['history', 'list'],
    ['history', 'verify'],
    ['campaign', 'list'],
    ['registry', 'check'],
    ['unsubscribe', '--list'],
]


class NoConfigTest(e2e.PostierCase):
    auto_init = False

    def files_under(self, folder):
        return sorted(os.path.relpath(os.path.join(d, f), folder)
                      for d, _, fs in os.walk(folder) for f in fs)

    def test_every_command_refuses_without_config(self):
        empty = self.path('nouveau')
        os.makedirs(empty)
        for args in COMMANDS:
            r = self.fails(*args, config=False, cwd=empty, contains=[NO_CONFIG])
            self.assertIn(NO_CONFIG, r.err.splitlines(), r)
            self.assertEqual(r.out, '', r)
        self.assertEqual(self.files_under(empty), [], 'nothing may be written')

    def test_empty_postier_config_is_no_config(self):
        empty = self.path('nouveau')
        os.makedirs(empty)
        r = self.fails('run', config=False, cwd=empty, env={'POSTIER_CONFIG': ''},
                       contains=[NO_CONFIG])
        self.assertEqual(r.out, '', r)
        self.assertEqual(self.files_under(empty), [])

    def test_help_needs_no_config(self):
        for args in (['run', '--help'], ['contacts', 'list', '--help'], ['--help']):
            r = self.ok(*args, config=False)
            self.assertIn('Usage', r.out, r)
        self.assertEqual(self.files_under(self.tmp), [])

    def test_init_then_default_config_found(self):
        self.fails('types', 'list', config=False, contains=[NO_CONFIG])
        self.ok('init', config=False)
        self.assertTrue(os.path.isfile(self.config))
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp', config=False)
        self.assertEqual([t['code'] for t in self.json('types', 'list', config=False)], ['exp'])

    def test_demo_needs_no_config(self):
        empty = self.path('nouveau')
        os.makedirs(empty)
        book = self.path('demo')
        r = self.run_postier('demo', book, config=False, cwd=empty)
        self.assertIn(r.rc, (0, 1), r)
        self.assertIn('The demo book is in %s' % book, r.out, r)
        self.assertTrue(os.path.isfile(os.path.join(book, 'config', 'postier.ini')))
        self.assertEqual(self.files_under(empty), [])

    def test_explicit_missing_config_names_it(self):
        missing = self.path('config', 'absent.ini')
        self.fails('types', 'list', config=False, env={'POSTIER_CONFIG': missing},
                   contains=[missing])
        self.fails('--config', missing, 'types', 'list', config=False, contains=[missing])
        self.assertEqual(self.files_under(self.tmp), [])


class EmptyDatabaseKeyTest(e2e.PostierCase):
    auto_init = False

    def test_empty_database_is_a_config_error(self):
        cfg = self.write('config/postier.ini', '; mon installation\n[store]\ndatabase =\n')
        for args in (['init'], ['types', 'list'], ['run']):
            r = self.fails(*args, contains=[cfg, 'database'])
            self.assertRegex(r.err, r'%s:3\b' % cfg, r)
        self.assertEqual(os.listdir(self.tmp), ['config'])
        self.assertEqual(os.listdir(self.path('config')), ['postier.ini'])


if __name__ == '__main__':
    e2e.main()
