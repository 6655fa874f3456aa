#!/usr/bin/python3
"""End-to-end: the letters as a new installation sends them (issue 16,
points 4, 7, 8, 9, 10).  `init` gives the shipped templates, so the first
run sends; a relative attachment is found in the documents folder whatever
folder `run` starts in, and a missing one fails its message (reason
`attachment`); `templates preview` prints the document's own number; every
shipped template reads well (no double space, no empty `label :` line, the
same facts in text and HTML); a document field the document does not have
fails the message (reason `template`) unless the template guards it."""
import email
import email.policy
import glob
import html
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

TYPES = ['invoice', 'payment_reminder', 'due_notice', 'document_reminder',
         'claim_settlement', 'order', 'after_sales']

PARTIES = """ref,kind,name,email,locale,client_ref
C1,client,Boulangerie Lefèvre SARL,accueil@lefevre.fr,fr,
K1,claim,Sinistre 42,,fr,C1
"""
# fr and en: a person with a civility, one without, a company with no
# person's name; on the claim, its expert and its garage
CONTACTS = """party_ref,type,civility,last_name,first_name,company,email,locale,display_order,flags
C1,,Mme,Martin,Élodie,,martin@lefevre.fr,fr,1,{flags}
C1,,,Lefèvre,Antoine,,antoine@lefevre.fr,fr,2,{flags}
C1,,,,,Boulangerie Lefèvre,compta@lefevre.fr,fr,3,{flags}
C1,,Mrs,Smith,Jane,,jane@lefevre.fr,en,4,{flags}
C1,,,Brown,John,,john@lefevre.fr,en,5,{flags}
C1,,,,,Lefevre Bakery,bakery@lefevre.fr,en,6,{flags}
K1,exp,M.,Blanc,Étienne,Cabinet Blanc,expert@blanc.fr,fr,1,claim_settlement
K1,exp,Mr,White,Steven,,expert@white.example,en,2,
K1,gar,,,,Garage de l'Estuaire,garage@estuaire.fr,fr,3,claim_settlement
K1,,,Durand,Paul,,paul@durand.fr,fr,4,claim_settlement
""".format(flags='|'.join(t for t in TYPES if t != 'claim_settlement'))
LINES = ('"[{""label"": ""Farine"", ""amount"": ""1000"", ""quantity"": ""2""}, '
         '{""label"": ""Livraison"", ""amount"": ""234.56""}]"')
DOCS = {
    'invoice': 'ref,party_ref,amount,due_date,issue_date,lines\n'
               'F1,C1,1234.56,2026-12-15,2026-11-20,' + LINES + '\n',
    'payment_reminder': 'ref,party_ref,amount,due_date,issue_date\n'
                        'R1,C1,1234.56,2026-12-15,2026-11-20\n',
    'due_notice': 'ref,party_ref,amount,due_date,contract,period\n'
                  'E1,C1,310.20,2027-01-01,Multirisque 778,2027\n',
    'document_reminder': 'ref,party_ref,missing,deadline\n'
                         'D1,C1,Relevé d\'information,2026-12-20\n',
    'claim_settlement': 'ref,party_ref,amount,settlement_date\n'
                        'S1,K1,3180,2026-11-25\n',
    'order': 'ref,party_ref,amount,delivery_date,lines\n'
             'O1,C1,1234.56,2026-12-02,' + LINES + '\n',
    'after_sales': 'ref,party_ref,status,appointment,message\n'
                   'A1,C1,En cours,2026-12-03,Pièce commandée\n',
}
REFS = {'invoice': 'F1', 'payment_reminder': 'R1', 'due_notice': 'E1',
        'document_reminder': 'D1', 'claim_settlement': 'S1', 'order': 'O1',
        'after_sales': 'A1'}


def html_text(s):
    """The text a reader sees in an HTML part: tags dropped, entities read,
    spaces (no-break ones too) collapsed."""
    s = re.sub(r'(?i)<br\s*/?>|</p>|</tr>|</li>|</td>', '\n', s)
    s = re.sub(r'<[^>]*>', '', s)
    return html.unescape(s).replace('\u00a0', ' ')


def words(s):
    """The facts of a text: its words and numbers, punctuation aside."""
    return {w.strip('.,;:()«»') for w in re.findall(r"[\w€@'’.,/-]+", s.replace('\u00a0', ' '))
            if w.strip('.,;:()«»-')}


class Letters(e2e.PostierCase):

    def book(self):
        self.ok('types', 'add', '--code', 'exp', '--label', 'Expert')
        self.ok('types', 'add', '--code', 'gar', '--label', 'Garage')
        self.ok('parties', 'import', self.write('parties.csv', PARTIES))
        self.ok('contacts', 'import', self.write('contacts.csv', CONTACTS))
        for t in TYPES:
            self.ok('documents', 'import', self.write('%s.csv' % t, DOCS[t]), '--type', t)
        self.append_config('\n[sender]\nname = Cabinet Durand\n'
                           'email = contact@cabinet-durand.fr\n')

    def ids(self):
        return {c['email']: c['id'] for c in self.all_contacts()}

    def maildir_messages(self):
        out = []
        for p in sorted(glob.glob(self.path('spool', 'sent', 'new', '*'))):
            out.append(self.parse_wire(self.read_bytes(p)))
        return out

    def shipped(self):
        files = []
        for t in sorted(os.listdir(e2e.TEMPLATES)):
            for f in sorted(os.listdir(os.path.join(e2e.TEMPLATES, t))):
                files.append(os.path.join(t, f))
        return files

    # -- point 4: the first run works ---------------------------------------

    def test_init_copies_the_shipped_templates(self):
        files = self.shipped()
        self.assertGreaterEqual(len(files), 7 * 3)
        for f in files:
            with open(os.path.join(e2e.TEMPLATES, f), 'rb') as src:
                self.assertEqual(self.read_bytes(self.path('templates', f)), src.read(), f)
        out = self.ok('templates', 'list').out
        for t in TYPES:
            self.assertRegex(out, r'(?m)^%s\s+.*fr\.eml\.tmpl' % t)

    def test_init_never_overwrites_templates(self):
        mine = self.write_template('invoice', 'fr.eml.tmpl', 'Subject: à moi\n\nBonjour\n')
        shutil.rmtree(self.path('templates', 'order'), ignore_errors=True)
        r = self.ok('init')
        self.assertIn('(not empty: kept as it is, nothing copied)', r.out)  # says why
        self.assertEqual(self.read_bytes(mine), 'Subject: à moi\n\nBonjour\n'.encode())
        # a folder that is not empty is the user's: nothing is added to it
        self.assertFalse(os.path.exists(self.path('templates', 'order')))
        # an empty one gets the shipped templates
        shutil.rmtree(self.path('templates'))
        os.makedirs(self.path('templates'))
        self.ok('init')
        self.assertTrue(os.path.isfile(self.path('templates', 'order', 'fr.eml.tmpl')))

    def test_first_run_sends_with_the_installed_templates(self):
        self.book()
        r = self.run_postier('run', '--type', 'invoice', '--date', '2026-11-23', cwd='/')
        self.assertEqual(r.rc, 0, r)
        msgs = self.maildir_messages()
        self.assertEqual(len(msgs), 6, r)
        self.assertTrue(all('F1' in m['Subject'] for m in msgs))

    def test_claim_on_a_new_installation_without_expert_types(self):
        """The shipped claim template names the types exp and gar, which a
        new installation does not have yet: the claim is still sent
        ({{#if exp}} is false), `templates check` warns instead of failing,
        and an unguarded {{exp.name}} fails its message (reason template)."""
        self.ok('parties', 'import', self.write(
            'p.csv', 'ref,kind,name,client_ref\nC1,client,Dupont SA,\n'
            'S1,claim,Sinistre 2026-17,C1\n'))
        self.ok('contacts', 'import', self.write(
            'c.csv', 'party_ref,last_name,first_name,email,flags\n'
            'S1,Dupont,Marc,marc@dupont.fr,claim_settlement|invoice\n'))
        self.ok('documents', 'import', self.write('d.csv', 'ref,party_ref,amount\nR1,S1,800\n'),
                '--type', 'claim_settlement')
        r = self.ok('templates', 'check')
        self.assertIn("warning: no contact type has the code 'exp' yet", r.out + r.err)
        self.assertIn("warning: no contact type has the code 'gar' yet", r.out + r.err)
        self.assertNotIn('unknown placeholder', r.out + r.err)
        r = self.run_postier('run', '--date', '2026-11-23')
        self.assertEqual(r.rc, 0, r)
        msgs = self.maildir_messages()
        self.assertEqual(len(msgs), 1, r)
        text = msgs[0].get_body(('plain',)).get_content()
        self.assertIn('Marc Dupont', text)
        self.assertNotIn('Expert', text)
        self.write_template('invoice', 'fr.eml.tmpl', 'Subject: F\n\nExpert : {{exp.name}}\n')
        self.ok('documents', 'import', self.write('f.csv', 'ref,party_ref,amount\nF1,S1,8\n'),
                '--type', 'invoice')
        r = self.run_postier('run', '--date', '2026-11-23')
        self.assertEqual(r.rc, 1, r)
        failed = self.history_rows('--status', 'failed')
        self.assertEqual([h['reason'] for h in failed], ['template'])
        self.assertIn("no contact type has the code 'exp'", failed[0]['server_reply'])
        # a lowercase name never written as code.<field> is a typo, not a type to come
        self.write_template('invoice', 'fr.eml.tmpl',
                            'Subject: F\n\nBonjour {{#if civilite}}{{civilite}} {{/if}}Marc\n')
        r = self.run_postier('templates', 'check')
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("unknown placeholder 'civilite'", r.out + r.err)

    def test_a_type_without_template_fails_its_messages(self):
        self.book()
        shutil.rmtree(self.path('templates', 'order'))
        r = self.run_postier('run', '--type', 'order', '--date', '2026-11-23')
        self.assertEqual(r.rc, 1, r)
        failed = self.history_rows('--status', 'failed')
        self.assertEqual(len(failed), 6, failed)
        for h in failed:
            self.assertEqual(h['reason'], 'template')
            self.assertIn("no template 'order'", h['server_reply'])
            self.assertIn(os.path.join('order', 'fr.eml.tmpl'), h['server_reply'])
        self.assertEqual(self.maildir_messages(), [])

    # -- point 7: attachments are found where the import said ---------------

    def attach_book(self, rows, **kw):
        self.ok('parties', 'import', self.write('parties.csv', PARTIES))
        self.ok('contacts', 'import', self.write(
            'contacts.csv', 'party_ref,last_name,email,flags\nC1,Martin,martin@lefevre.fr,invoice\n'))
        return self.run_postier('documents', 'import', self.write(
            'docs.csv', 'ref,party_ref,amount,attachment\n' + rows), '--type', 'invoice', **kw)

    def test_relative_attachment_is_read_from_the_documents_folder(self):
        self.write(os.path.join('documents', 'factures', 'F1.pdf'), b'%PDF-1.4 F1\n')
        os.makedirs(self.path('elsewhere'))
        r = self.attach_book('F1,C1,10,factures/F1.pdf\n', cwd=self.path('elsewhere'))
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn('warning', r.err)
        r = self.run_postier('run', '--date', '2026-11-23', cwd='/')
        self.assertEqual(r.rc, 0, r)
        [msg] = self.maildir_messages()
        [att] = list(msg.iter_attachments())
        self.assertEqual(att.get_filename(), 'F1.pdf')
        self.assertEqual(att.get_content(), b'%PDF-1.4 F1\n')

    def test_documents_folder_is_configurable(self):
        self.append_config('\n[store]\ndocuments = pdf\n')
        self.write(os.path.join('pdf', 'F1.pdf'), b'%PDF-1.4 F1\n')
        r = self.attach_book('F1,C1,10,F1.pdf\n')
        self.assertEqual(r.rc, 0, r)
        self.ok('run', '--date', '2026-11-23', cwd='/')
        [msg] = self.maildir_messages()
        self.assertEqual([a.get_filename() for a in msg.iter_attachments()], ['F1.pdf'])

    def test_missing_attachment_warns_then_fails_its_message(self):
        self.write(os.path.join('documents', 'F1.pdf'), b'%PDF-1.4 F1\n')
        r = self.attach_book('F1,C1,10,F1.pdf\nF2,C1,20,F2.pdf\n')
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.err, r"docs\.csv:3: warning: attachment 'F2\.pdf' does not exist yet")
        self.assertIn(self.path('documents', 'F2.pdf'), r.err)
        self.assertEqual(len(self.json('documents', 'list')), 2)
        r = self.run_postier('run', '--date', '2026-11-23', cwd='/')
        self.assertEqual(r.rc, 1, r)
        [msg] = self.maildir_messages()
        self.assertIn('F1', msg['Subject'])
        [h] = self.history_rows('--status', 'failed')
        self.assertEqual((h['document_ref'], h['reason']), ('F2', 'attachment'))
        self.assertIn('F2.pdf', h['server_reply'])

    def test_many_missing_attachments_are_counted_not_listed(self):
        """A list imported before its PDFs are written: the first missing
        ones are named, the rest counted in the summary."""
        rows = ''.join('F%d,C1,10,pdf/F%d.pdf\n' % (i, i) for i in range(50))
        r = self.attach_book(rows)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.err.count('warning: attachment'), 20, r)
        self.assertIn('50 invoice documents imported, 50 attachments not there yet', r.out)

    # -- point 8: preview prints the document's own number ------------------

    def test_preview_prints_the_document_number(self):
        self.book()
        self.append_config('[store]\ntemplates = %s\n' % e2e.TEMPLATES)
        cid = self.ids()['martin@lefevre.fr']
        r = self.ok('templates', 'preview', 'invoice', '--contact', cid, '--doc', 'F1')
        msg = email.message_from_string(r.out, policy=email.policy.default)
        self.assertEqual(msg['Subject'], 'Votre facture F1 – Boulangerie Lefèvre SARL')
        self.assertIn('facture n° F1 du 20/11/2026', msg.get_body(('plain',)).get_content())
        # without a document, its fields are empty: a look at the layout
        r = self.ok('templates', 'preview', 'invoice', '--contact', cid)
        msg = email.message_from_string(r.out, policy=email.policy.default)
        self.assertIn('Bonjour Mme Élodie Martin,', msg.get_body(('plain',)).get_content())

    # -- point 9: letters a French broker would send ------------------------

    def render(self, t, cid):
        r = self.ok('templates', 'preview', t, '--contact', cid, '--doc', REFS[t])
        msg = email.message_from_string(r.out, policy=email.policy.default)
        self.assertEqual(msg.defects, [])
        text = msg.get_body(('plain',))
        htm = msg.get_body(('html',))
        self.assertIsNotNone(htm, '%s: no HTML part\n%s' % (t, r.out))
        return msg['Subject'], text.get_content(), htm.get_content()

    def check_letter(self, what, subject, text, htm):
        shown = html_text(htm)
        for part, s in (('subject', subject), ('text', text), ('html', shown)):
            self.assertNotIn('{{', s, '%s %s' % (what, part))
            for line in s.splitlines():
                self.assertNotRegex(line.strip(), r'\S  +\S', '%s %s: double space' % (what, part))
        self.assertNotRegex(htm, r'\S  +\S', '%s html source: double space' % what)
        lines = [x.strip() for x in text.splitlines()]
        for i, line in enumerate(lines):
            if line.endswith(':'):  # a label: a list must follow it
                nxt = next((x for x in lines[i + 1:] if x), '')
                self.assertTrue(nxt.startswith('- '), '%s: empty label line %r' % (what, line))
        self.assertEqual(words(text), words(shown), '%s: text and HTML differ' % what)

    def test_every_shipped_template_reads_well(self):
        self.book()
        self.append_config('[store]\ntemplates = %s\n' % e2e.TEMPLATES)
        ids = self.ids()
        for t in TYPES:
            rcpts = (['paul@durand.fr', 'expert@blanc.fr', 'expert@white.example',
                      'garage@estuaire.fr'] if t == 'claim_settlement' else
                     ['martin@lefevre.fr', 'antoine@lefevre.fr', 'compta@lefevre.fr',
                      'jane@lefevre.fr', 'john@lefevre.fr', 'bakery@lefevre.fr'])
            for a in rcpts:
                what = '%s to %s' % (t, a)
                subject, text, htm = self.render(t, ids[a])
                self.check_letter(what, subject, text, htm)
                self.assertIn(REFS[t] if t != 'claim_settlement' else 'K1', subject, what)
                first = text.strip().splitlines()[0]
                self.assertRegex(first, r'^(Bonjour|Dear) \S.*,$', what)
                if a == 'antoine@lefevre.fr':
                    self.assertEqual(first, 'Bonjour Antoine Lefèvre,')
                if a == 'martin@lefevre.fr':
                    self.assertEqual(first, 'Bonjour Mme Élodie Martin,')
                if a == 'compta@lefevre.fr':
                    self.assertEqual(first, 'Bonjour Boulangerie Lefèvre,')
                if t == 'claim_settlement':
                    experts = [x for x in text.splitlines() if 'xpert' in x]
                    if a == 'expert@blanc.fr':  # never told he is the expert
                        self.assertEqual(experts, ['Expert mandaté : Steven White'], what)
                    elif a == 'expert@white.example':  # told of the other one
                        self.assertEqual(experts, ['Appointed expert: Étienne Blanc, '
                                                   'Cabinet Blanc'], what)
                    else:
                        self.assertRegex(text, r'Expert mandaté : Étienne Blanc, Cabinet Blanc',
                                         what)
                        self.assertEqual('Réparateur : Garage de l\'Estuaire' in text,
                                         a != 'garage@estuaire.fr', what)

    def test_company_expert_is_named_once(self):
        """An expert who is a firm (no person's name): its name is the
        company; the letter does not say it twice."""
        self.ok('types', 'add', '--code', 'exp', '--label', 'Expert')
        self.ok('parties', 'import', self.write('parties.csv', PARTIES))
        self.ok('contacts', 'import', self.write(
            'contacts.csv', 'party_ref,type,last_name,first_name,company,email,locale,flags\n'
            'K1,exp,,,Cabinet Expertises Dubœuf,cabinet@expertise.example,fr,\n'
            'K1,,Durand,Paul,,paul@durand.fr,fr,claim_settlement\n'
            'K1,,White,Jane,,jane@white.example,en,claim_settlement\n'))
        self.ok('documents', 'import', self.write('d.csv', 'ref,party_ref,amount\nR1,K1,800\n'),
                '--type', 'claim_settlement')
        ids = {c['email']: c['id'] for c in self.all_contacts()}
        for a, label in (('paul@durand.fr', 'Expert mandaté'),
                         ('jane@white.example', 'Appointed expert')):
            r = self.ok('templates', 'preview', 'claim_settlement', '--contact', ids[a],
                        '--doc', 'R1')
            msg = email.message_from_string(r.out, policy=email.policy.default)
            for part in (msg.get_body(('plain',)).get_content(),
                         html_text(msg.get_body(('html',)).get_content())):
                self.assertEqual(part.count('Dubœuf'), 1, part)
                self.assertIn(label, part)

    # -- point 10: a typo in a template is caught, not sent -----------------

    def typo_book(self, body):
        for code, label in (('exp', 'Expert'), ('gar', 'Garage')):  # the claim template's
            self.ok('types', 'add', '--code', code, '--label', label)
        self.ok('parties', 'import', self.write('parties.csv', PARTIES))
        self.ok('contacts', 'import', self.write(
            'contacts.csv', 'party_ref,last_name,email,flags\nC1,Martin,martin@lefevre.fr,invoice\n'))
        self.ok('documents', 'import', self.write(
            'docs.csv', 'ref,party_ref,amount\nF1,C1,10\n'), '--type', 'invoice')
        self.write_template('invoice', 'fr.eml.tmpl', 'Subject: Facture\n\n' + body)

    def test_unknown_document_field_fails_the_message(self):
        self.typo_book('Bonjour,\n\nfacture n° {{doc.reff}}.\n')
        r = self.run_postier('run', '--date', '2026-11-23')
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.maildir_messages(), [])
        [h] = self.history_rows('--status', 'failed')
        self.assertEqual(h['reason'], 'template')
        self.assertIn("document F1 has no field 'reff'", h['server_reply'])
        self.assertIn('invoice/fr.eml.tmpl:5:', h['server_reply'])

    def test_unknown_item_field_fails_the_message(self):
        """Inside {{#each doc.lines}} a field the item lacks (a typo) is not
        sent as a blank: the message fails; guarded, it is sent."""
        self.typo_book('Détail :\n{{#each doc.lines}}  - {{lable}} : {{amount}}\n{{/each}}\n')
        self.ok('documents', 'import', self.write(
            'l.csv', 'ref,party_ref,amount,lines\n'
            'F2,C1,10,"[{""label"":""Farine"",""amount"":10}]"\n'), '--type', 'invoice')
        r = self.run_postier('run', '--date', '2026-11-23')
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.maildir_messages(), [])
        failed = {h['document_ref']: h for h in self.history_rows('--status', 'failed')}
        self.assertEqual(failed['F2']['reason'], 'template')
        self.assertIn("item 1 of doc.lines has no field 'lable'", failed['F2']['server_reply'])
        self.write_template('invoice', 'fr.eml.tmpl', 'Subject: Facture\n\nDétail :\n'
                            '{{#each doc.lines}}  - {{label}}{{#if qty}} x{{qty}}{{/if}} : '
                            '{{amount}}{{note|default:""}}\n{{/each}}\n')
        r = self.run_postier('retry', '--document', 'F2')
        self.assertEqual(r.rc, 0, r)
        [msg] = self.maildir_messages()
        self.assertIn('  - Farine : 10', msg.get_body(('plain',)).get_content().splitlines())

    def test_guarded_document_fields_are_sent(self):
        self.typo_book('Bonjour,\n\nfacture n° {{doc.reff|default:"?"}}'
                       '{{#if doc.note}} ({{doc.note}}){{/if}} de {{doc.amount}}.\n')
        r = self.run_postier('run', '--date', '2026-11-23')
        self.assertEqual(r.rc, 0, r)
        [msg] = self.maildir_messages()
        self.assertIn('facture n° ? de 10.', msg.get_body(('plain',)).get_content())

    def test_templates_check_warns_about_fields_no_document_has(self):
        self.typo_book('Bonjour,\n\nfacture n° {{doc.ref}} de {{doc.amount}}, '
                       'échéance {{doc.due_dat|default:"-"}}.\n')
        r = self.run_postier('templates', 'check')
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r"invoice/fr\.eml\.tmpl:5:\d+: warning: no imported invoice "
                                r"has a field 'due_dat'")
        self.assertNotIn("'amount'", r.out)


if __name__ == '__main__':
    e2e.main()
