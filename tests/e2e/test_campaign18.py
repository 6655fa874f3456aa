#!/usr/bin/python3
"""End-to-end: issue 18 point 5, selection the way the directory screens do
it (SPEC §6 `campaign`): `campaign rm NAME` deletes a draft and refuses a
launched campaign; `campaign new … --contacts ID,ID` and `--contacts-file
FILE` select the ticked contacts, further restricted by the other options;
a bad or unknown id is refused naming it (file:line), nothing created;
`campaign preview` prints the messages as a person reads them (UTF-8
headers and text, the HTML part as text), not quoted-printable MIME."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import test_campaign as tc  # noqa: E402


class Remove(tc.CampaignCase):
    def setUp(self):
        super().setUp()
        self.ids = self.book(tc.FILTER_BOOK, types=True)

    def names(self):
        return [c['name'] for c in self.json('campaign', 'list')]

    def test_rm_deletes_a_draft(self):
        self.new('brouillon', 'info', 'email', 'service')
        self.new('autre', 'info', 'email', 'service')
        r = self.ok('campaign', 'rm', 'brouillon')
        self.assertIn('campaign brouillon removed', r.out, r)
        self.assertEqual(self.names(), ['autre'])
        self.assertNotEqual(self.run_postier('campaign', 'show', 'brouillon').rc, 0)
        self.fails('campaign', 'rm', 'brouillon', contains='brouillon')
        # the name is free again
        self.new('brouillon', 'promo', 'email', 'commercial')

    def test_rm_refuses_a_launched_campaign(self):
        self.start_peer()
        self.new('envoyee', 'info', 'email', 'service', '--party', 'P1')
        self.ok('campaign', 'launch', 'envoyee', '--yes')
        self.fails('campaign', 'rm', 'envoyee',
                   contains='campaign envoyee was launched: it stays in the history')
        self.assertEqual(self.names(), ['envoyee'])
        self.assertEqual(self.status('envoyee')['sent'], 3)


class Ticked(tc.CampaignCase):
    def setUp(self):
        super().setUp()
        self.ids = self.book(tc.FILTER_BOOK, types=True)
        self.key = {c['key']: self.ids[c['last_name']] for c in tc.FILTER_BOOK}
        self.rev = {c['email']: c['key'] for c in tc.FILTER_BOOK}

    def selected(self, name, *filters):
        self.new(name, 'info', 'email', 'service', *filters)
        recips, excluded, r = self.preview(name, limit=100)
        self.assertEqual(excluded, [], r)
        return sorted(self.rev[a] for _, a, _ in recips)

    def ids_of(self, *keys):
        return [str(self.key[k]) for k in keys]

    def test_contacts_list_and_combined(self):
        ticked = ','.join(self.ids_of('a1', 'b1', 'c2', 'a2'))
        self.assertEqual(self.selected('coches', '--contacts', ticked), ['a1', 'a2', 'b1', 'c2'])
        self.assertEqual(self.selected('coches-paris', '--contacts', ticked, '--city', 'paris'),
                         ['a1', 'a2'])
        self.assertEqual(self.selected('coches-exp', '--contacts', ticked, '--type', 'exp',
                                       '--flag', 'order'), ['a1', 'b1'])
        show = self.jobj('campaign', 'show', 'coches-paris')
        self.assertEqual(sorted(show['selection']['contacts']),
                         sorted(int(i) for i in ticked.split(',')))
        self.assertEqual(show['selection']['city'], 'paris')

    def test_contacts_file(self):
        path = self.write('coches.txt', '\n'.join(self.ids_of('b2', 'c1')) + '\n')
        self.assertEqual(self.selected('fichier', '--contacts-file', path), ['b2', 'c1'])
        self.assertEqual(self.selected('fichier-lyon', '--contacts-file', path,
                                       '--city', 'Lyon'), ['b2'])

    def test_bad_ids_create_nothing(self):
        good = self.ids_of('a1')[0]
        self.fails('campaign', 'new', 'x1', '--template', 'info', '--channel', 'email',
                   '--purpose', 'service', '--contacts', good + ',abc', contains=("'abc'",))
        self.fails('campaign', 'new', 'x2', '--template', 'info', '--channel', 'email',
                   '--purpose', 'service', '--contacts', good + ',99999',
                   contains=('99999', 'no contact'))
        path = self.write('bad.txt', good + '\n7x\n')
        self.fails('campaign', 'new', 'x3', '--template', 'info', '--channel', 'email',
                   '--purpose', 'service', '--contacts-file', path,
                   contains=(path + ':2', "'7x'"))
        path = self.write('unknown.txt', good + '\n\n99999\n')
        self.fails('campaign', 'new', 'x4', '--template', 'info', '--channel', 'email',
                   '--purpose', 'service', '--contacts-file', path,
                   contains=(path + ':3', '99999'))
        self.fails('campaign', 'new', 'x5', '--template', 'info', '--channel', 'email',
                   '--purpose', 'service', '--contacts-file', self.path('absent.txt'),
                   contains=('absent.txt',))
        self.assertEqual(self.json('campaign', 'list'), [])


class Readable(tc.CampaignCase):
    def test_preview_is_decoded(self):
        self.book(tc.CONSENT_BOOK[:1])
        self.new('promo-hiver', 'promo', 'email', 'commercial')
        recips, excluded, r = self.preview('promo-hiver')
        self.assertEqual(len(recips), 1, r)
        display, _, text = recips[0]
        self.assertEqual(display, 'Élodie Martin')
        for encoded in ('=C3', '=?', '=\n', 'Content-Transfer-Encoding', 'multipart', '<p>'):
            self.assertNotIn(encoded, r.out, r)
        lines = text.strip('\n').split('\n')
        self.assertIn('To: Élodie Martin <elodie.martin@lefevre.fr>', lines)
        self.assertIn('Subject: promo-hiver : nos offres pour Élodie Martin', lines)
        self.assertIn('From: %s <%s>' % (tc.SENDER_NAME, tc.SENDER), lines)
        self.assertTrue([ln for ln in lines if ln.startswith('List-Unsubscribe: <%s' %
                                                             tc.UNSUB_URL)], r)
        cut = lines.index('--- html part, as text ---')
        body, html = lines[:cut], lines[cut + 1:]
        self.assertIn('Bonjour Élodie,', body)
        self.assertIn("À très bientôt !", body)
        self.assertIn('Bonjour Élodie,', html)
        self.assertIn("Boulangerie Lefèvre et Cabinet Durand vous présentent leurs offres "
                      "d'hiver.", html)
        for ln in html:
            self.assertNotRegex(ln, r'<[a-z/]', r)


if __name__ == '__main__':
    e2e.main()
