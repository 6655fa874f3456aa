"""End-to-end: what the libFuzzer targets of tests/fuzz found, each kept as
a hostile data file (tests/data/hostile/) and checked through the CLI."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402


class FuzzFindingsTest(e2e.PostierCase):

    def test_email_a_label_that_idna2008_refuses(self):
        # fuzz_email: "xn--upontcole-6oa" decodes to "up´ontcole" (U+00B4,
        # refused by IDNA2008); it was accepted and stored, then refused
        # when the message was sent.  Now the row is refused at import,
        # naming file, line and field, and nothing is written.
        self.ok('parties', 'import', e2e.data_path('contacts', 'parties.csv'))
        f = e2e.data_path('hostile', 'alabel_email.csv')
        before = self.db_snapshot()
        r = self.fails('contacts', 'import', f, contains=('%s:3:' % f, 'email', 'bad domain'))
        self.assertNotIn('%s:2:' % f, r.err)
        self.assertEqual(self.db_snapshot(), before)
        self.assertEqual(self.all_contacts(), [])


if __name__ == '__main__':
    e2e.main()
