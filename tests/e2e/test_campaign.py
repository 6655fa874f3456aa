#!/usr/bin/python3
"""End-to-end: mail-merge campaigns (SPEC §2.4-2.5, §4, §6 `campaign` and
`unsubscribe`) against a real SMTP server (smtp_peer.py) and a real JSON SMS
gateway (sms_gateway.py).

A campaign is a template + a selection + a channel + a purpose.  These tests
check: who is selected (each filter alone and combined), who is excluded and
with which reason (consent per purpose, suppression list, no address,
duplicates), the list/show/status views, that `preview` writes and sends
nothing, the test message, the marketing headers (RFC 8058 List-Unsubscribe
with a per-recipient token) parsed strictly, unsubscribing by address and by
token, the frozen recipient list, pause/resume and cancel from another
process, a kill -9 in the middle of a launch, a launch scheduled with --at
and sent by `postier run` (clock moved with faketime), commercial SMS held
back in quiet hours and carrying the STOP mention, and service SMS sent at
once."""
import collections
import email
import email.policy
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import sms_gateway  # noqa: E402
import smtp_peer  # noqa: E402
from e2e import csv_text, mid  # noqa: E402

TZ = 'Europe/Paris'
SENDER_NAME = 'Cabinet Durand'
SENDER = 'contact@cabinet-durand.fr'
UNSUB_URL = 'https://unsub.example.fr/u?t='
LIST_UNSUB = re.compile(r'^<https://unsub\.example\.fr/u\?t=([0-9a-f]{16,})>, '
                        r'<mailto:unsubscribe@example\.fr\?subject=unsubscribe%20([0-9a-f]{16,})>$')
SUMMARY = re.compile(r'^campaign (\S+): (\d+) recipients?, (\d+) sent, (\d+) deferred, '
                     r'(\d+) failed, (\d+) skipped(?: \((.*)\))?\.?\s*$')
PREVIEW_TO = re.compile(r'^--- to (.*?) <?([^<>\s]+)>?\s*$')
STOP = ' STOP au 36180'
LIST_KEYS = {'name', 'template', 'channel', 'purpose', 'state', 'scheduled_at', 'recipients',
             'queued', 'sent', 'deferred', 'failed', 'skipped'}
STATUS_KEYS = {'name', 'state', 'recipients', 'queued', 'sent', 'deferred', 'failed', 'skipped'}

# -- templates ---------------------------------------------------------------------

PROMO_FR = """Subject: {{campaign.name}} : nos offres pour {{contact.name}}

Bonjour {{contact.first_name}},

{{party.name}} et {{sender.name}} vous présentent leurs offres d'hiver.
À très bientôt !
--- html ---
<p>Bonjour {{contact.first_name}},</p>
<p>{{party.name}} et {{sender.name}} vous présentent leurs offres d'hiver.</p>
"""
PROMO_EN = """Subject: {{campaign.name}}: our offers for {{contact.name}}

Hello {{contact.first_name}},

{{party.name}} and {{sender.name}} present their winter offers.
--- html ---
<p>Hello {{contact.first_name}},</p>
"""
INFO_FR = """Subject: Information de {{sender.name}} pour {{party.name}}

Bonjour {{contact.first_name}} {{contact.last_name}},

nos bureaux seront fermés le 24 décembre ({{campaign.name}}).
{{sender.name}}
"""
INFO_EN = """Subject: Information from {{sender.name}} for {{party.name}}

Hello {{contact.first_name}} {{contact.last_name}},

our offices will be closed on 24 December ({{campaign.name}}).
"""
LINK_FR = """Subject: Lien de désinscription

Bonjour {{contact.name}}, pour ne plus rien recevoir : {{unsubscribe.url}}
"""
SMS_PROMO = "Bonjour {{contact.first_name}}, -20% chez {{party.name}} jusqu'au 31/12."
SMS_INFO = "{{party.name}} : votre agence sera fermée le 24/12. {{sender.name}}"

# -- address books -----------------------------------------------------------------

PARTIES = [
    dict(ref='P1', kind='client', name='Boulangerie Lefèvre', email='accueil@lefevre.fr'),
    dict(ref='P2', kind='supplier', name='Transports Garçon', email='contact@garcon.fr'),
    dict(ref='P3', kind='company', name='Cabinet Moreau', email='accueil@moreau.fr'),
    dict(ref='P4', kind='client', name='Fromagerie Dubois', email='bonjour@dubois.fr'),
]
ALL = 'commercial|partner'

# consents per purpose: (last name, party, first name, e-mail, consents, extra)
CONSENT_BOOK = [
    dict(party_ref='P1', last_name='Martin', first_name='Élodie', email='elodie.martin@lefevre.fr',
         consents=ALL),
    dict(party_ref='P1', last_name='Lefèvre', first_name='Jérôme', email='jerome@lefevre.fr',
         consents='commercial'),
    dict(party_ref='P1', last_name='Dupont', first_name='Anne', email='anne.dupont@lefevre.fr',
         consents='partner'),
    dict(party_ref='P1', last_name='Durand', first_name='Luc', email='luc.durand@lefevre.fr',
         consents=''),
    dict(party_ref='P1', last_name='Sansmail', first_name='Paul', email='', consents=ALL),
    dict(party_ref='P1', last_name='Doublon', first_name='Zoé', email='Elodie.Martin@Lefevre.fr',
         consents=ALL),
    dict(party_ref='P1', last_name='Petit', first_name='Claire', email='claire@lefevre.fr',
         consents=ALL, valid_until='2025-06-30'),
    dict(party_ref='P1', last_name='Bernard', first_name='Hervé', email='herve.bernard@lefevre.fr',
         consents=ALL),
    dict(party_ref='P2', last_name='Moreau', first_name='Inès', email='ines@garcon.fr',
         consents=ALL, locale='en'),
]
# who gets what (Bernard is on the suppression list; Petit ended in 2025)
EXPECT = {
    'service': (['Martin', 'Lefèvre', 'Dupont', 'Durand', 'Bernard', 'Moreau'],
                {'Sansmail': 'no_email', 'Doublon': 'duplicate_address'}),
    'commercial': (['Martin', 'Lefèvre', 'Moreau'],
                   {'Dupont': 'no_consent:commercial', 'Durand': 'no_consent:commercial',
                    'Sansmail': 'no_email', 'Doublon': 'duplicate_address',
                    'Bernard': 'unsubscribed'}),
    'partner': (['Martin', 'Dupont', 'Moreau'],
                {'Lefèvre': 'no_consent:partner', 'Durand': 'no_consent:partner',
                 'Sansmail': 'no_email', 'Doublon': 'duplicate_address',
                 'Bernard': 'unsubscribed'}),
}

# selection filters: every contact has its own address
FILTER_BOOK = [
    dict(key='a1', party_ref='P1', type='exp', last_name='Martin', first_name='Élodie',
         email='a1@lefevre.fr', city='Paris', flags='invoice|order', department='Comptabilité'),
    dict(key='a2', party_ref='P1', type='gar', last_name='Lefèvre', first_name='Jérôme',
         email='a2@lefevre.fr', city='PARIS', flags='order'),
    dict(key='a3', party_ref='P1', type='', last_name='Dupont', first_name='Anne',
         email='a3@lefevre.fr', city='Lyon', flags='invoice'),
    dict(key='a4', party_ref='P1', type='exp', last_name='Petit', first_name='Claire',
         email='a4@lefevre.fr', city='Paris', flags='order|invoice', department='Comptabilité',
         valid_until='2025-06-30'),
    dict(key='b1', party_ref='P2', type='exp', last_name='Durand', first_name='Luc',
         email='b1@garcon.fr', city='Orléans', flags='order'),
    dict(key='b2', party_ref='P2', type='', last_name='Bernard', first_name='Hervé',
         email='b2@garcon.fr', city='Lyon', flags='after_sales'),
    dict(key='c1', party_ref='P3', type='gar', last_name='Moreau', first_name='Inès',
         email='c1@moreau.fr', city='Paris', flags='invoice', department='Comptabilité'),
    dict(key='c2', party_ref='P3', type='', last_name='Garnier', first_name='Noël',
         email='c2@moreau.fr', city='Marseille', flags='order|invoice'),
    dict(key='d1', party_ref='P4', type='exp', last_name='Dubois', first_name='Karim',
         email='d1@dubois.fr', city='Orléans', flags='order'),
]

SMS_BOOK = [
    dict(party_ref='P1', last_name='Martin', first_name='Élodie', phones='06 12 34 56 78',
         consents='commercial|sms_marketing'),
    dict(party_ref='P1', last_name='Lefèvre', first_name='Jérôme', phones='07 98 76 54 32',
         consents='commercial'),
    dict(party_ref='P1', last_name='Dupont', first_name='Anne', phones='06 11 22 33 44',
         consents='sms_marketing'),
    dict(party_ref='P1', last_name='Fixe', first_name='Luc', phones='01 42 68 53 00',
         consents='commercial|sms_marketing'),
    dict(party_ref='P1', last_name='Moreau', first_name='Inès', phones='+33 6 45 67 89 01',
         consents='commercial|partner|sms_marketing'),
    dict(party_ref='P1', last_name='Doublon', first_name='Zoé', phones='06.12.34.56.78',
         consents='commercial|sms_marketing'),
]
MOBILE = {'Martin': '+33612345678', 'Lefèvre': '+33798765432', 'Dupont': '+33611223344',
          'Moreau': '+33645678901'}

CONTACT_COLS = ['party_ref', 'type', 'civility', 'last_name', 'first_name', 'company',
                'department', 'email', 'phones', 'city', 'locale', 'display_order',
                'valid_until', 'flags', 'consents']


class CampaignCase(e2e.PostierCase):
    def setUp(self):
        super().setUp()
        self.base_ini = self.read_config()
        self.tdir = self.path('templates')
        self.write_template('promo', 'fr.eml.tmpl', PROMO_FR)
        self.write_template('promo', 'en.eml.tmpl', PROMO_EN)
        self.write_template('info', 'fr.eml.tmpl', INFO_FR)
        self.write_template('info', 'en.eml.tmpl', INFO_EN)
        self.write_template('lien', 'fr.eml.tmpl', LINK_FR)
        self.write_template('lien', 'en.eml.tmpl', LINK_FR)
        self.write_template('smspromo', 'fr.sms.tmpl', SMS_PROMO)
        self.write_template('smsinfo', 'fr.sms.tmpl', SMS_INFO)
        self.peer = self.gw = None
        self.nbg = 0
        self.configure()

    # -- setting up ---------------------------------------------------------------

    def configure(self):
        ini = (self.base_ini +
               '\n[store]\ntemplates = %s\n' % self.tdir +
               '[sender]\nname = %s\nemail = %s\n' % (SENDER_NAME, SENDER) +
               '[run]\nfallback = none\n' +
               '[campaign]\nunsubscribe_url = https://unsub.example.fr/u?t={token}\n'
               'unsubscribe_mailto = unsubscribe@example.fr\n')
        if self.peer is not None:
            ini += ('[email]\ntransport = smtp\n[smtp]\nurl = %s\nstarttls = never\n'
                    'connections = 1\nmax_attempts = 3\ntimeout = 10\n' % self.peer.url)
        if self.gw is not None:
            ini += ('[sms]\ntransport = json\nurl = %s\ntoken = tok123\nsender = POSTIER\n'
                    'stop_text = STOP au 36180\n'
                    'allow_plaintext_auth = yes\n' % self.gw.url)  # the token to 127.0.0.1
        self.write_config(ini)

    def start_peer(self, delay=0.0, mode='accept'):
        self.peer = smtp_peer.Peer(self.path('peer'), mode=mode, delay=delay).start()
        self.addCleanup(self.peer.stop)
        self.configure()
        return self.peer

    def start_gw(self):
        self.gw = sms_gateway.Gateway(self.path('gateway'), mode='json', token='tok123').start()
        self.addCleanup(self.gw.stop)
        self.configure()
        return self.gw

    def book(self, contacts, types=False):
        """The parties and the contacts (display order as listed);
        returns {last_name: contact id}."""
        if types:
            self.ok('types', 'add', '--code', 'exp', '--label', 'Expert')
            self.ok('types', 'add', '--code', 'gar', '--label', 'Garage')
        self.ok('parties', 'import', self.write('parties.csv', csv_text(
            ['ref', 'kind', 'name', 'email'], PARTIES)))
        rows = []
        for i, c in enumerate(contacts):
            r = {'locale': 'fr', 'display_order': i + 1}
            r.update({k: v for k, v in c.items() if k != 'key'})
            rows.append(r)
        self.ok('contacts', 'import', self.write('contacts.csv', csv_text(CONTACT_COLS, rows)))
        ids = {c['last_name']: c['id'] for c in self.all_contacts()}
        self.assertEqual(len(ids), len(contacts), ids)
        return ids

    def numbered_book(self, n, consents=ALL):
        """Party P1 with n contacts c00..c<n-1>@lefevre.fr; returns the
        addresses in order."""
        self.ok('parties', 'import', self.write('parties.csv', csv_text(
            ['ref', 'kind', 'name', 'email'], PARTIES[:1])))
        rows = [{'party_ref': 'P1', 'last_name': 'Client%02d' % i, 'first_name': 'Anne',
                 'email': 'c%02d@lefevre.fr' % i, 'locale': 'fr', 'display_order': i + 1,
                 'consents': consents} for i in range(n)]
        self.ok('contacts', 'import', self.write('contacts.csv', csv_text(CONTACT_COLS, rows)))
        return [r['email'] for r in rows]

    def new(self, name, template='promo', channel='email', purpose='commercial', *filters):
        r = self.ok('campaign', 'new', name, '--template', template, '--channel', channel,
                    '--purpose', purpose, *filters)
        self.assertIn('campaign %s created' % name, r.out, r)
        return r

    # -- running ------------------------------------------------------------------

    def env(self, fake=None):
        e = self.postier_env({'TZ': TZ})
        if fake:
            e['FAKETIME_DONT_FAKE_MONOTONIC'] = '1'
            # the ASan build: libfaketime is preloaded before the ASan runtime
            e['ASAN_OPTIONS'] = (e.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0').lstrip(':')
        return e

    def argv(self, args, fake=None):
        return (['faketime', fake] if fake else []) + self.postier_argv(*args)

    def run_postier(self, *args, config=True, env=None, cwd=None, stdin=None):
        e = {'TZ': TZ}
        if env:
            e.update(env)
        return super().run_postier(*args, config=config, env=e, cwd=cwd, stdin=stdin)

    def run_at(self, when, *args, rc=0):
        """postier ARGS under `faketime WHEN` (local time, Europe/Paris)."""
        p = subprocess.run(self.argv(args, when), cwd=self.tmp, env=self.env(when), input=b'',
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=e2e.TIMEOUT)
        r = e2e.Result(['@' + when] + [str(a) for a in args], p.returncode,
                       p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace'))
        if rc is not None:
            self.assertEqual(r.rc, rc, 'expected exit %r:\n%r' % (rc, r))
        return r

    def start_bg(self, *args):
        """postier ARGS in the background (stdin /dev/null); finish() it."""
        self.nbg += 1
        out = open(self.path('bg%d.out' % self.nbg), 'wb')
        err = open(self.path('bg%d.err' % self.nbg), 'wb')
        p = subprocess.Popen(self.argv(args), cwd=self.tmp, env=self.env(),
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        out.close()
        err.close()
        p.files = (out.name, err.name)
        p.args_ = [str(a) for a in args]

        def reap():
            if p.poll() is None:
                p.kill()
                p.wait()
        self.addCleanup(reap)
        return p

    def finish(self, p, timeout=30):
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail('postier %s still running after %ss' % (' '.join(p.args_), timeout))
        with open(p.files[0], 'rb') as f:
            out = f.read().decode('utf-8', 'replace')
        with open(p.files[1], 'rb') as f:
            err = f.read().decode('utf-8', 'replace')
        return e2e.Result(p.args_, rc, out, err)

    def wait_accepted(self, n, p, timeout=30):
        end = time.monotonic() + timeout
        while self.peer.accepted_count() < n:
            if p.poll() is not None:
                self.fail('launch ended before %d messages were accepted:\n%r'
                          % (n, self.finish(p)))
            if time.monotonic() > end:
                self.fail('the peer accepted only %d messages in %ss'
                          % (self.peer.accepted_count(), timeout))
            time.sleep(0.01)

    # -- reading ------------------------------------------------------------------

    def jobj(self, *args, **kw):
        """A command printing one JSON object (or an array of one)."""
        v, r = self.json_result(*args, **kw)
        if isinstance(v, list):
            self.assertEqual(len(v), 1, r)
            v = v[0]
        self.assertIsInstance(v, dict, r)
        return v

    def status(self, name):
        s = self.jobj('campaign', 'status', name)
        self.assertEqual(set(s), STATUS_KEYS, s)
        self.assertEqual(s['name'], name)
        return s

    def counts(self, name):
        s = self.status(name)
        return {k: s[k] for k in ('state', 'recipients', 'queued', 'sent', 'deferred',
                                  'failed', 'skipped')}

    def summary(self, r, name):
        lines = [ln for ln in r.out.strip().splitlines() if ln.startswith('campaign %s:' % name)]
        self.assertTrue(lines, 'no "campaign %s: ..." summary on stdout:\n%r' % (name, r))
        m = SUMMARY.match(lines[-1].strip())
        self.assertTrue(m, 'summary line not as the contract says:\n%r' % r)
        s = dict(zip(('recipients', 'sent', 'deferred', 'failed', 'skipped'),
                     map(int, m.groups()[1:6])))
        reasons = {}
        if m.group(7):
            for part in m.group(7).split(','):
                words = part.split()
                self.assertEqual(len(words), 2, 'reasons not "reason n, ...": %r' % m.group(7))
                reasons[words[0]] = int(words[1])
        s['reasons'] = reasons
        return s

    def camp_history(self, name):
        rows = self.history_rows('--campaign', name)
        for h in rows:
            self.assertEqual(h['campaign'], name, h)
        return rows

    def skipped(self, name):
        """{contact id: reason} of the campaign's skipped rows (one each)."""
        rows = [h for h in self.camp_history(name) if h['event'] == 'skipped']
        out = {}
        for h in rows:
            self.assertNotIn(h['contact_id'], out, 'two skipped rows for one contact: %r' % rows)
            out[h['contact_id']] = h['reason']
        return out

    def preview(self, name, limit=None):
        """([(display name, address, rendered text)], [excluded lines], Result)"""
        args = ['campaign', 'preview', name] + (['--limit', str(limit)] if limit else [])
        r = self.ok(*args)
        recips, excluded, cur, in_excl = [], [], None, False
        for line in r.out.split('\n'):
            if in_excl:
                if line.strip():
                    excluded.append(line.strip())
                continue
            m = PREVIEW_TO.match(line)
            if m:
                cur = [m.group(1).strip(), m.group(2), []]
                recips.append(cur)
                continue
            if line.strip().startswith('excluded:'):
                in_excl = True
                continue
            if cur is not None:
                cur[2].append(line)
        self.assertTrue(in_excl, 'no "excluded:" line in the preview:\n%r' % r)
        return [(d, a, '\n'.join(t).strip('\n')) for d, a, t in recips], excluded, r

    def excluded_reasons(self, lines):
        """{line: reason} of preview's excluded lines (each ends with (reason))."""
        out = {}
        for ln in lines:
            m = re.search(r'\(([a-z_:]+)\)$', ln)
            self.assertTrue(m, 'excluded line does not end with (<reason>): %r' % ln)
            out[ln] = m.group(1)
        return out

    def parse(self, data):
        """parse_wire's strict checks of one message's wire bytes, one of
        each main header and no template tag left; returns it parsed."""
        msg = self.parse_wire(data)
        for name in ('From', 'To', 'Subject', 'Date', 'Message-ID'):
            self.assertEqual(len(msg.get_all(name) or []), 1, '%s in\n%r' % (name, data[:2000]))
        self.assertNotIn(b'{{', data)
        return msg

    def text_of(self, msg):
        part = msg.get_body(preferencelist=('plain',))
        self.assertIsNotNone(part, 'no text/plain part')
        return part.get_content()

    def by_rcpt(self):
        """{address: [parsed message, ...]} of what the peer accepted."""
        out = collections.defaultdict(list)
        for m in self.peer.messages():
            self.assertEqual(len(m['rcpt']), 1, m['rcpt'])
            out[m['rcpt'][0].lower()].append(self.parse(m['data']))
        return out

    def token_of(self, msg):
        v = msg['List-Unsubscribe']
        self.assertIsNotNone(v, 'no List-Unsubscribe header')
        v = re.sub(r'\s+', ' ', str(v)).strip()
        m = LIST_UNSUB.match(v)
        self.assertTrue(m, 'List-Unsubscribe not as the contract says: %r' % v)
        self.assertEqual(m.group(1), m.group(2), 'two tokens in List-Unsubscribe: %r' % v)
        return m.group(1)


# ---------------------------------------------------------------------------------

class Definition(CampaignCase):
    def test_new_errors(self):
        self.new('hiver-2026', 'promo', 'email', 'commercial')
        self.fails('campaign', 'new', 'hiver-2026', '--template', 'info', '--channel', 'email',
                   '--purpose', 'service', contains='hiver-2026')
        # the folder has no file for the channel
        self.fails('campaign', 'new', 'promo-sms', '--template', 'promo', '--channel', 'sms',
                   '--purpose', 'commercial')
        self.fails('campaign', 'new', 'sms-mail', '--template', 'smspromo', '--channel', 'email',
                   '--purpose', 'commercial')
        self.fails('campaign', 'new', 'absent', '--template', 'nosuch', '--channel', 'email',
                   '--purpose', 'service')
        self.fails('campaign', 'new', 'badpurpose', '--template', 'promo', '--channel', 'email',
                   '--purpose', 'marketing')
        self.fails('campaign', 'new', 'badchannel', '--template', 'promo', '--channel', 'fax',
                   '--purpose', 'service')
        self.fails('campaign', 'new', 'nopurpose', '--template', 'promo', '--channel', 'email')
        for cmd in ('show', 'status', 'preview', 'launch', 'pause', 'resume', 'cancel'):
            with self.subTest(cmd=cmd):
                self.fails('campaign', cmd, 'nosuch', contains='nosuch')
        names = [c['name'] for c in self.json('campaign', 'list')]
        self.assertEqual(names, ['hiver-2026'])
        self.assertIn('campaign', self.ok('campaign', '--help').out)

    def test_list_show_status(self):
        self.book(CONSENT_BOOK)
        peer = self.start_peer()
        self.new('info-noel', 'info', 'email', 'service', '--party', 'P1', '--city', 'Paris')
        self.new('promo-hiver', 'promo', 'email', 'partner', '--party-kind', 'supplier')
        self.new('sms-hiver', 'smspromo', 'sms', 'commercial')
        lst = self.json('campaign', 'list')
        self.assertEqual(sorted(c['name'] for c in lst), ['info-noel', 'promo-hiver', 'sms-hiver'])
        by = {c['name']: c for c in lst}
        for c in lst:
            self.assertEqual(set(c), LIST_KEYS, c)
            self.assertEqual(c['state'], 'draft', c)
            self.assertIsNone(c['scheduled_at'], c)
            for k in ('queued', 'sent', 'deferred', 'failed'):
                self.assertEqual(c[k], 0, c)
        self.assertEqual({k: by['info-noel'][k] for k in ('template', 'channel', 'purpose')},
                         {'template': 'info', 'channel': 'email', 'purpose': 'service'})
        self.assertEqual({k: by['promo-hiver'][k] for k in ('template', 'channel', 'purpose')},
                         {'template': 'promo', 'channel': 'email', 'purpose': 'partner'})
        self.assertEqual({k: by['sms-hiver'][k] for k in ('template', 'channel', 'purpose')},
                         {'template': 'smspromo', 'channel': 'sms', 'purpose': 'commercial'})

        show = self.jobj('campaign', 'show', 'info-noel')
        self.assertTrue(LIST_KEYS | {'selection'} <= set(show), show)
        self.assertEqual({k: show[k] for k in LIST_KEYS}, by['info-noel'])
        sel = {k.replace('-', '_'): v for k, v in show['selection'].items() if v is not None}
        self.assertEqual(sel, {'party': 'P1', 'city': 'Paris'})
        sel = {k.replace('-', '_'): v for k, v in
               self.jobj('campaign', 'show', 'promo-hiver')['selection'].items() if v is not None}
        self.assertEqual(sel, {'party_kind': 'supplier'})
        sel = {k.replace('-', '_'): v for k, v in
               self.jobj('campaign', 'show', 'sms-hiver')['selection'].items() if v is not None}
        self.assertEqual(sel, {})
        txt = self.ok('campaign', 'show', 'info-noel').out
        for s in ('info-noel', 'info', 'service', 'draft', 'P1', 'Paris'):
            self.assertIn(s, txt)

        # launch the partner one: Moreau (supplier P2) only
        r = self.ok('campaign', 'launch', 'promo-hiver', '--yes')
        self.assertEqual(self.summary(r, 'promo-hiver'),
                         dict(recipients=1, sent=1, deferred=0, failed=0, skipped=0, reasons={}))
        self.assertEqual(self.counts('promo-hiver'),
                         dict(state='done', recipients=1, queued=0, sent=1, deferred=0,
                              failed=0, skipped=0))
        self.assertEqual([m['rcpt'] for m in peer.messages()], [['ines@garcon.fr']])
        by = {c['name']: c for c in self.json('campaign', 'list')}
        self.assertEqual((by['promo-hiver']['state'], by['promo-hiver']['recipients'],
                          by['promo-hiver']['sent'], by['promo-hiver']['skipped']),
                         ('done', 1, 1, 0))
        self.assertEqual(by['info-noel']['state'], 'draft')
        line = self.ok('campaign', 'status', 'promo-hiver').out
        self.assertIn('promo-hiver', line)
        self.assertIn('done', line)
        show = self.jobj('campaign', 'show', 'promo-hiver')
        self.assertEqual((show['state'], show['recipients'], show['sent']), ('done', 1, 1))


class Selection(CampaignCase):
    def setUp(self):
        super().setUp()
        self.ids = self.book(FILTER_BOOK, types=True)
        self.addr = {c['key']: c['email'] for c in FILTER_BOOK}
        self.n = 0

    def selected(self, *filters):
        self.n += 1
        name = 'sel-%d' % self.n
        self.new(name, 'info', 'email', 'service', *filters)
        recips, excluded, r = self.preview(name, limit=100)
        self.assertEqual(excluded, [], r)
        got = sorted(a for _, a, _ in recips)
        self.assertEqual(len(got), len(set(got)), r)
        rev = {v: k for k, v in self.addr.items()}
        return sorted(rev.get(a, a) for a in got)

    def test_each_filter_and_combined(self):
        cases = [
            ((), ['a1', 'a2', 'a3', 'b1', 'b2', 'c1', 'c2', 'd1']),
            (('--type', 'exp'), ['a1', 'b1', 'd1']),
            (('--type', 'gar'), ['a2', 'c1']),
            (('--flag', 'order'), ['a1', 'a2', 'b1', 'c2', 'd1']),
            (('--flag', 'after_sales'), ['b2']),
            (('--party', 'P1'), ['a1', 'a2', 'a3']),
            (('--party', 'P3'), ['c1', 'c2']),
            (('--party-kind', 'client'), ['a1', 'a2', 'a3', 'd1']),
            (('--party-kind', 'supplier'), ['b1', 'b2']),
            (('--city', 'paris'), ['a1', 'a2', 'c1']),
            (('--city', 'ORLÉANS'), ['b1', 'd1']),
            (('--city', 'Lyon'), ['a3', 'b2']),
            (('--search', 'comptabilité'), ['a1', 'c1']),
            (('--search', 'garnier'), ['c2']),
            (('--party-kind', 'client', '--flag', 'order', '--city', 'Paris'), ['a1', 'a2']),
            (('--type', 'exp', '--flag', 'order', '--party-kind', 'client', '--city', 'orléans'),
             ['d1']),
            (('--type', 'exp', '--flag', 'invoice', '--party', 'P1', '--party-kind', 'client',
              '--city', 'Paris', '--search', 'Comptabilité'), ['a1']),
            (('--type', 'gar', '--search', 'comptabilité'), ['c1']),
            (('--party', 'P2', '--type', 'gar'), []),
        ]
        for filters, want in cases:
            with self.subTest(filters=filters):
                self.assertEqual(self.selected(*filters), want)
        # --search selects what `contacts list --search` lists (minus nothing)
        for text in ('comptabilité', 'lefevre', 'orleans'):
            with self.subTest(search=text):
                listed = sorted(c['email'] for c in self.contacts('--search', text))
                rev = {v: k for k, v in self.addr.items()}
                self.assertEqual(self.selected('--search', text),
                                 sorted(rev[a] for a in listed))
        # the definition keeps the filters
        six = [i for i, (f, _) in enumerate(cases) if len(f) == 12][0] + 1
        show = self.jobj('campaign', 'show', 'sel-%d' % six)
        sel = {k.replace('-', '_'): v for k, v in show['selection'].items() if v is not None}
        self.assertEqual(sel, {'type': 'exp', 'flag': 'invoice', 'party': 'P1',
                               'party_kind': 'client', 'city': 'Paris',
                               'search': 'Comptabilité'})

    def test_launch_sends_to_the_selection_only(self):
        peer = self.start_peer()
        self.new('paris', 'info', 'email', 'service', '--city', 'paris', '--flag', 'invoice')
        r = self.ok('campaign', 'launch', 'paris', '--yes')
        self.assertEqual(self.summary(r, 'paris'),
                         dict(recipients=2, sent=2, deferred=0, failed=0, skipped=0, reasons={}))
        self.assertEqual(sorted(a for m in peer.messages() for a in m['rcpt']),
                         ['a1@lefevre.fr', 'c1@moreau.fr'])
        # the ended contact (a4, Paris, invoice) is not even a skipped row
        rows = self.camp_history('paris')
        self.assertNotIn(self.ids['Petit'], [h['contact_id'] for h in rows])
        self.assertEqual(sorted((h['event'], h['address']) for h in rows),
                         [('queued', 'a1@lefevre.fr'), ('queued', 'c1@moreau.fr'),
                          ('sent', 'a1@lefevre.fr'), ('sent', 'c1@moreau.fr')])


class Consent(CampaignCase):
    def test_reasons_per_purpose(self):
        ids = self.book(CONSENT_BOOK)
        r = self.ok('unsubscribe', 'herve.bernard@lefevre.fr')
        self.assertIn('herve.bernard@lefevre.fr unsubscribed', r.out)
        peer = self.start_peer()
        emails = {c['last_name']: c['email'].lower() for c in CONSENT_BOOK}
        all_ids = []
        seen = 0
        for purpose in ('service', 'commercial', 'partner'):
            with self.subTest(purpose=purpose):
                name = 'c-' + purpose
                self.new(name, 'promo' if purpose != 'service' else 'info', 'email', purpose)
                r = self.ok('campaign', 'launch', name, '--yes')
                sent, skips = EXPECT[purpose]
                reasons = collections.Counter(skips.values())
                self.assertEqual(self.summary(r, name),
                                 dict(recipients=len(sent), sent=len(sent), deferred=0,
                                      failed=0, skipped=len(skips), reasons=dict(reasons)))
                self.assertEqual(self.skipped(name), {ids[k]: v for k, v in skips.items()})
                for h in self.camp_history(name):
                    self.assertEqual(h['channel'], 'email', h)
                    if h['event'] == 'skipped':
                        self.assertIsNone(h['message_id'], h)
                msgs = peer.messages()[seen:]
                seen += len(msgs)
                self.assertEqual(sorted(m['rcpt'][0].lower() for m in msgs),
                                 sorted(emails[k] for k in sent))
                rows = [h for h in self.camp_history(name) if h['event'] == 'sent']
                self.assertEqual(sorted((h['contact_id'], h['address'].lower()) for h in rows),
                                 sorted((ids[k], emails[k]) for k in sent))
                self.assertEqual(sorted(mid(h['message_id']) for h in rows),
                                 sorted(mid(m['message_id']) for m in msgs))
                all_ids += [mid(m['message_id']) for m in msgs]
                self.assertEqual(self.counts(name),
                                 dict(state='done', recipients=len(sent), queued=0,
                                      sent=len(sent), deferred=0, failed=0, skipped=len(skips)))
        # one Message-ID per (campaign, recipient): never reused across campaigns
        self.assertEqual(len(all_ids), len(set(all_ids)), all_ids)
        # nobody was ever sent the ended contact's or the duplicate's address twice
        self.assertNotIn('claire@lefevre.fr', [m['rcpt'][0] for m in peer.messages()])
        self.verify_history()


class Preview(CampaignCase):
    def spool_files(self):
        out = []
        for root, _, files in os.walk(self.path('spool')):
            out += [os.path.join(root, f) for f in files]
        return sorted(out)

    def test_preview_writes_and_sends_nothing(self):
        self.book(CONSENT_BOOK)
        self.ok('unsubscribe', 'herve.bernard@lefevre.fr')
        peer = self.start_peer()
        self.new('info-noel', 'info', 'email', 'service')
        self.new('promo-hiver', 'promo', 'email', 'commercial')
        snap, spool = self.db_snapshot(), self.spool_files()
        defs = self.json('campaign', 'list')

        # default: the first 3 recipients, then who is excluded and why
        recips, excluded, r = self.preview('info-noel')
        self.assertEqual(len(recips), 3, r)
        recips, excluded, r = self.preview('info-noel', limit=10)
        want, skips = EXPECT['service']
        emails = {c['last_name']: c['email'] for c in CONSENT_BOOK}
        firsts = {c['last_name']: c['first_name'] for c in CONSENT_BOOK}
        self.assertEqual(sorted(a.lower() for _, a, _ in recips), sorted(emails[k] for k in want))
        for display, address, text in recips:
            last = [k for k in want if emails[k] == address.lower()][0]
            self.assertEqual(display, '%s %s' % (firsts[last], last))
            msg = email.message_from_string(text.lstrip('\n') + '\n', policy=email.policy.default)
            self.assertEqual(msg.defects, [], text)
            self.assertEqual(msg['To'].addresses[0].addr_spec.lower(), address.lower())
            self.assertIn(SENDER_NAME, str(msg['Subject']))
            self.assertTrue(str(msg['Subject']).startswith('Information'), msg['Subject'])
            self.assertIn('%s %s' % (firsts[last], last), msg.get_payload())
            self.assertIsNone(msg['List-Unsubscribe'])
        self.assertEqual(sorted(self.excluded_reasons(excluded).values()), sorted(skips.values()))
        for last, reason in skips.items():
            self.assertTrue([ln for ln in excluded if last in ln and ln.endswith('(%s)' % reason)],
                            '%s (%s) not in the excluded lines: %r' % (last, reason, excluded))

        recips, excluded, r = self.preview('promo-hiver', limit=2)
        self.assertEqual(len(recips), 2, r)
        want, skips = EXPECT['commercial']
        self.assertEqual(sorted(self.excluded_reasons(excluded).values()), sorted(skips.values()))
        for last, reason in skips.items():
            self.assertTrue([ln for ln in excluded if last in ln and ln.endswith('(%s)' % reason)],
                            '%s (%s) not in the excluded lines: %r' % (last, reason, excluded))
        for display, address, text in recips:
            msg = email.message_from_string(text.lstrip('\n') + '\n', policy=email.policy.default)
            self.assertIn(str(msg['Subject']), ('promo-hiver : nos offres pour %s' % display,
                                                'promo-hiver: our offers for %s' % display))
        self.assertNotIn('{{', r.out)

        # nothing written, nothing sent, still drafts
        self.assertEqual(self.db_snapshot(), snap)
        self.assertEqual(self.spool_files(), spool)
        self.assertEqual(peer.messages(), [])
        self.assertEqual(self.json('campaign', 'list'), defs)

    def test_unsubscribe_placeholder(self):
        self.book(CONSENT_BOOK[:1])
        peer = self.start_peer()
        self.new('lien', 'lien', 'email', 'commercial')
        recips, _, r = self.preview('lien')
        self.assertEqual(len(recips), 1, r)
        msg = email.message_from_string(recips[0][2].lstrip('\n') + '\n',
                                        policy=email.policy.default)
        self.assertRegex(msg.get_payload(), r'pour ne plus rien recevoir : '
                         r'https://unsub\.example\.fr/u\?t=\S+')
        # sent: {{unsubscribe.url}} is the recipient's own link, as in the header
        self.ok('campaign', 'launch', 'lien', '--yes')
        (m,) = peer.messages()
        msg = self.parse(m['data'])
        self.assertIn('pour ne plus rien recevoir : %s%s' % (UNSUB_URL, self.token_of(msg)),
                      self.text_of(msg))


class TestMessage(CampaignCase):
    def test_test_message(self):
        self.book(CONSENT_BOOK)
        peer = self.start_peer()
        self.new('promo-hiver', 'promo', 'email', 'commercial')
        recips, _, _ = self.preview('promo-hiver', limit=1)
        first = recips[0]
        r = self.ok('campaign', 'test', 'promo-hiver', '--to', 'bat@cabinet-durand.fr')
        self.assertIn('test message sent to bat@cabinet-durand.fr', r.out)
        msgs = peer.messages()
        self.assertEqual(len(msgs), 1, msgs)
        self.assertEqual(msgs[0]['rcpt'], ['bat@cabinet-durand.fr'])
        self.assertEqual(msgs[0]['mail_from'], SENDER)
        msg = self.parse(msgs[0]['data'])
        # rendered for the first recipient
        self.assertIn(first[0].split()[0], self.text_of(msg))
        self.assertIn(first[0], str(msg['Subject']))
        rows = self.camp_history('promo-hiver')
        self.assertEqual([(h['event'], h['address'], h['channel']) for h in rows],
                         [('test', 'bat@cabinet-durand.fr', 'email')])
        s = self.counts('promo-hiver')
        self.assertEqual((s['state'], s['sent'], s['queued']), ('draft', 0, 0))
        # the test did not count as sending to the first recipient
        self.ok('campaign', 'launch', 'promo-hiver', '--yes')
        got = sorted(m['rcpt'][0].lower() for m in peer.messages())
        self.assertEqual(got, sorted(['bat@cabinet-durand.fr', 'elodie.martin@lefevre.fr',
                                      'jerome@lefevre.fr', 'ines@garcon.fr',
                                      'herve.bernard@lefevre.fr']))
        self.assertIn(first[1].lower(), got)
        self.fails('campaign', 'test', 'promo-hiver')
        self.verify_history()


class Launch(CampaignCase):
    def test_marketing_headers_and_body(self):
        ids = self.book(CONSENT_BOOK)
        self.ok('unsubscribe', 'herve.bernard@lefevre.fr')
        peer = self.start_peer()
        self.new('promo-hiver', 'promo', 'email', 'commercial')
        r = self.ok('campaign', 'launch', 'promo-hiver', '--yes')
        self.assertEqual(self.summary(r, 'promo-hiver')['sent'], 3)
        got = self.by_rcpt()
        self.assertEqual(sorted(got), ['elodie.martin@lefevre.fr', 'ines@garcon.fr',
                                       'jerome@lefevre.fr'])
        tokens, mids = {}, {}
        names = {'elodie.martin@lefevre.fr': ('Élodie', 'Martin', 'Boulangerie Lefèvre', 'fr'),
                 'jerome@lefevre.fr': ('Jérôme', 'Lefèvre', 'Boulangerie Lefèvre', 'fr'),
                 'ines@garcon.fr': ('Inès', 'Moreau', 'Transports Garçon', 'en')}
        for addr, (msg,) in got.items():
            first, last, party, locale = names[addr]
            self.assertEqual(msg['To'].addresses[0].addr_spec.lower(), addr)
            self.assertEqual(msg['To'].addresses[0].display_name, '%s %s' % (first, last))
            self.assertEqual(msg['From'].addresses[0].addr_spec, SENDER)
            self.assertEqual(msg['From'].addresses[0].display_name, SENDER_NAME)
            if locale == 'fr':
                self.assertEqual(str(msg['Subject']),
                                 'promo-hiver : nos offres pour %s %s' % (first, last))
            else:
                self.assertEqual(str(msg['Subject']),
                                 'promo-hiver: our offers for %s %s' % (first, last))
            token = self.token_of(msg)
            tokens[addr] = token
            self.assertEqual(str(msg['List-Unsubscribe-Post']).strip(),
                             'List-Unsubscribe=One-Click')
            self.assertEqual(msg.get_content_type(), 'multipart/alternative')
            text = self.text_of(msg)
            self.assertIn(('Bonjour %s,' if locale == 'fr' else 'Hello %s,') % first, text)
            if locale == 'fr':
                self.assertIn('%s et %s vous présentent' % (party, SENDER_NAME), text)
            self.assertTrue([ln for ln in text.splitlines() if UNSUB_URL + token in ln],
                            'no unsubscribe line with %s%s in the text body:\n%s'
                            % (UNSUB_URL, token, text))
            html = msg.get_body(preferencelist=('html',)).get_content()
            self.assertIn(('Bonjour %s,' if locale == 'fr' else 'Hello %s,') % first, html)
            mids[addr] = mid(msg['Message-ID'])
        self.assertEqual(len(set(tokens.values())), 3, tokens)
        self.assertEqual(len(set(mids.values())), 3, mids)
        # history: queued then sent, the Message-IDs of the wire, the template version
        rows = [h for h in self.camp_history('promo-hiver') if h['event'] != 'skipped']
        self.assertEqual(sorted((h['event'], h['address'].lower()) for h in rows),
                         sorted([('queued', a) for a in got] + [('sent', a) for a in got]))
        for h in rows:
            self.assertEqual(mid(h['message_id']), mids[h['address'].lower()], h)
            self.assertEqual(h['channel'], 'email')
            self.assertIsNone(h['document_ref'])
        sent = {h['address'].lower(): h for h in rows if h['event'] == 'sent'}
        self.assertEqual(sent['ines@garcon.fr']['contact_id'], ids['Moreau'])
        self.assertRegex(sent['ines@garcon.fr']['server_reply'] or '', r'^250 ')

        # a done campaign sends nothing more
        hist = self.history_rows()
        r = self.run_postier('campaign', 'launch', 'promo-hiver', '--yes')
        self.assertEqual(r.rc, 0, r)
        self.assertIn('nothing left to send', r.out + r.err)
        self.assertEqual(len(peer.messages()), 3)
        self.assertEqual(self.history_rows(), hist)
        self.ok('run')
        self.assertEqual(len(peer.messages()), 3)

        # a service campaign carries none of the marketing headers
        self.new('info-noel', 'info', 'email', 'service')
        self.ok('campaign', 'launch', 'info-noel', '--yes')
        msgs = peer.messages()[3:]
        self.assertEqual(len(msgs), 6, [m['rcpt'] for m in msgs])  # Bernard too
        for m in msgs:
            msg = self.parse(m['data'])
            self.assertIsNone(msg['List-Unsubscribe'])
            self.assertIsNone(msg['List-Unsubscribe-Post'])
            self.assertNotIn('unsub.example.fr', self.text_of(msg))
            self.assertNotIn(b'unsub.example.fr', m['data'])
        self.verify_history()
        # the template version is recorded
        for name, tmpl in (('promo-hiver', ('promo/fr.eml.tmpl', PROMO_FR)),
                           ('info-noel', ('info/fr.eml.tmpl', INFO_FR))):
            row = [h for h in self.camp_history(name)
                   if h['event'] == 'sent' and h['contact_id'] == ids['Martin']][0]
            self.assertEqual((row['template'], row['template_sha256']),
                             (tmpl[0], hashlib.sha256(tmpl[1].encode()).hexdigest()))

    def test_partial_failure_exits_1(self):
        addrs = self.numbered_book(3)
        bad = self.add_contact('--party', 'P1', '--last-name', 'Refus', '--email',
                               'bad.refus@lefevre.fr', '--consents', ALL)
        peer = self.start_peer(mode='reject')
        self.new('promo', 'promo', 'email', 'commercial')
        r = self.run_postier('campaign', 'launch', 'promo', '--yes')
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.summary(r, 'promo'),
                         dict(recipients=4, sent=3, deferred=0, failed=1, skipped=0, reasons={}))
        self.assertEqual(sorted(m['rcpt'][0] for m in peer.messages()), sorted(addrs))
        (row,) = [h for h in self.camp_history('promo') if h['event'] == 'failed']
        self.assertEqual((row['contact_id'], row['address']), (bad, 'bad.refus@lefevre.fr'))
        self.assertRegex(row['server_reply'] or '', r'^550 ')
        self.assertEqual(self.counts('promo'),
                         dict(state='done', recipients=4, queued=0, sent=3, deferred=0,
                              failed=1, skipped=0))

    def test_terminal_confirmation(self):
        self.book(CONSENT_BOOK)
        self.ok('unsubscribe', 'herve.bernard@lefevre.fr')
        peer = self.start_peer()
        self.new('promo-hiver', 'promo', 'email', 'commercial')

        def on_tty(answer):
            rc, text, answered = self.on_tty(self.argv(['campaign', 'launch', 'promo-hiver']),
                                             answer, self.env())
            self.assertTrue(answered, 'no [y/N] question on a terminal:\n%r' % text)
            self.assertRegex(text, r'Send .*to 3 recipients \(5 excluded\)\? \[y/N\]')
            return rc, text

        rc, text = on_tty(b'n\n')
        self.assertEqual(rc, 1, text)
        self.assertEqual(peer.messages(), [])
        self.assertEqual(self.counts('promo-hiver')['state'], 'draft')
        self.assertEqual([h for h in self.camp_history('promo-hiver') if h['event'] != 'skipped'],
                         [])
        rc, text = on_tty(b'y\n')
        self.assertEqual(rc, 0, text)
        self.assertEqual(len(peer.messages()), 3)
        self.assertEqual(self.counts('promo-hiver')['state'], 'done')


class Unsubscribe(CampaignCase):
    def test_by_address_and_token(self):
        book = [dict(party_ref='P1', last_name=n, first_name='Anne', email='%s@lefevre.fr' % n.lower(),
                     consents='commercial') for n in ('Xavier', 'Yvon', 'Zelie', 'Wanda')]
        ids = self.book(book)
        peer = self.start_peer()
        self.new('promo-1', 'promo', 'email', 'commercial')
        self.ok('campaign', 'launch', 'promo-1', '--yes')
        got = self.by_rcpt()
        self.assertEqual(len(got), 4)
        token_y = self.token_of(got['yvon@lefevre.fr'][0])

        r = self.ok('unsubscribe', 'xavier@lefevre.fr')
        self.assertIn('xavier@lefevre.fr unsubscribed', r.out)
        r = self.ok('unsubscribe', token_y)
        self.assertIn('yvon@lefevre.fr unsubscribed', r.out)
        r = self.ok('unsubscribe', 'zelie@lefevre.fr', '--source', 'webform')
        self.assertIn('zelie@lefevre.fr unsubscribed', r.out)
        self.fails('unsubscribe', '0123456789abcdef0123456789abcdef')  # no such token
        self.fails('unsubscribe', 'not an address')

        lst = self.json('unsubscribe', '--list')
        for u in lst:
            self.assertEqual(set(u), {'address', 'at', 'source'}, u)
            self.assertTrue(u['at'])
        self.assertEqual(sorted((u['address'].lower(), u['source']) for u in lst),
                         [('xavier@lefevre.fr', 'cli'), ('yvon@lefevre.fr', 'token'),
                          ('zelie@lefevre.fr', 'webform')])
        rows = [h for h in self.history_rows() if h['event'] == 'unsubscribed']
        self.assertEqual(sorted(h['address'].lower() for h in rows),
                         ['xavier@lefevre.fr', 'yvon@lefevre.fr', 'zelie@lefevre.fr'])
        txt = self.ok('unsubscribe', '--list').out
        self.assertIn('yvon@lefevre.fr', txt)

        # a later commercial campaign skips them ...
        self.new('promo-2', 'promo', 'email', 'commercial')
        r = self.ok('campaign', 'launch', 'promo-2', '--yes')
        self.assertEqual(self.summary(r, 'promo-2'),
                         dict(recipients=1, sent=1, deferred=0, failed=0, skipped=3,
                              reasons={'unsubscribed': 3}))
        self.assertEqual(self.skipped('promo-2'), {ids['Xavier']: 'unsubscribed',
                                                   ids['Yvon']: 'unsubscribed',
                                                   ids['Zelie']: 'unsubscribed'})
        self.assertEqual([m['rcpt'] for m in peer.messages()[4:]], [['wanda@lefevre.fr']])
        # ... a service campaign still reaches everyone
        self.new('info', 'info', 'email', 'service')
        r = self.ok('campaign', 'launch', 'info', '--yes')
        self.assertEqual(self.summary(r, 'info')['sent'], 4)
        self.assertEqual(self.skipped('info'), {})
        self.assertEqual(sorted(m['rcpt'][0] for m in peer.messages()[5:]),
                         sorted(c['email'] for c in book))
        self.verify_history()


class Flow(CampaignCase):
    N = 40

    def launch_bg(self, name):
        p = self.start_bg('campaign', 'launch', name, '--yes')
        return p

    def test_pause_resume_exact_counts(self):
        addrs = self.numbered_book(self.N)
        peer = self.start_peer(delay=0.1)
        self.new('promo', 'promo', 'email', 'commercial')
        p = self.launch_bg('promo')
        self.wait_accepted(8, p)
        t0 = time.monotonic()
        self.ok('campaign', 'pause', 'promo')
        # counted once the pause is committed: what the peer accepts from
        # here on is what the launch sent after seeing (or missing) it
        at_pause = self.peer.accepted_count()
        r = self.finish(p, timeout=10)
        took = time.monotonic() - t0
        self.assertEqual(r.rc, 0, r)
        k = len(peer.messages())
        self.assertLess(k, self.N, 'the launch ignored the pause and sent all %d (%.1f s):\n%r'
                        % (self.N, took, r))
        self.assertLess(took, 2.5, 'launch took %.1f s to stop after pause' % took)
        self.assertLessEqual(k - at_pause, 3, 'still sending after the pause')
        s = self.summary(r, 'promo')
        self.assertEqual((s['recipients'], s['sent'], s['failed']), (self.N, k, 0))
        st = self.counts('promo')
        self.assertEqual((st['state'], st['recipients'], st['sent'], st['failed']),
                         ('paused', self.N, k, 0))
        self.assertEqual(st['queued'] + st['deferred'], self.N - k, st)
        time.sleep(0.5)
        self.assertEqual(len(peer.messages()), k, 'messages sent while paused')

        r = self.ok('campaign', 'resume', 'promo')
        s = self.summary(r, 'promo')
        self.assertIn(s['sent'], (self.N, self.N - k), r)
        self.assertEqual((s['recipients'], s['failed'], s['deferred']), (self.N, 0, 0))
        got = collections.Counter(a for m in peer.messages() for a in m['rcpt'])
        self.assertEqual(sorted(got), sorted(addrs))
        self.assertEqual(max(got.values()), 1, [a for a, n in got.items() if n > 1])
        self.assertEqual(self.counts('promo'),
                         dict(state='done', recipients=self.N, queued=0, sent=self.N,
                              deferred=0, failed=0, skipped=0))
        rows = self.camp_history('promo')
        for ev in ('queued', 'sent'):
            c = collections.Counter(h['address'] for h in rows if h['event'] == ev)
            self.assertEqual(sorted(c), sorted(addrs), ev)
            self.assertEqual(max(c.values()), 1, ev)
        self.verify_history()

    def test_frozen_selection(self):
        addrs = self.numbered_book(12)
        peer = self.start_peer(delay=0.2)
        self.new('promo', 'promo', 'email', 'commercial', '--party', 'P1')
        p = self.launch_bg('promo')
        self.wait_accepted(2, p)
        self.ok('campaign', 'pause', 'promo')
        r = self.finish(p, timeout=10)
        self.assertEqual(r.rc, 0, r)
        self.assertLess(len(peer.messages()), 12,
                        'the launch ignored the pause: nothing left to freeze:\n%r' % r)
        self.assertEqual(self.counts('promo')['state'], 'paused')
        new_id = self.add_contact('--party', 'P1', '--last-name', 'Nouveau', '--first-name',
                                  'Marc', '--email', 'nouveau@lefevre.fr', '--consents', ALL)
        r = self.ok('campaign', 'resume', 'promo')
        self.assertEqual(self.summary(r, 'promo')['recipients'], 12)
        got = sorted(a for m in peer.messages() for a in m['rcpt'])
        self.assertEqual(got, sorted(addrs))
        self.assertEqual(self.counts('promo')['recipients'], 12)
        self.assertNotIn(new_id, [h['contact_id'] for h in self.camp_history('promo')])
        r = self.ok('campaign', 'launch', 'promo', '--yes')
        self.assertIn('nothing left to send', r.out + r.err)
        self.ok('run')
        self.assertEqual(len(peer.messages()), 12)
        # a new campaign with the same selection does reach the newcomer
        self.new('promo-2', 'promo', 'email', 'commercial')
        recips, _, _ = self.preview('promo-2', limit=100)
        self.assertIn('nouveau@lefevre.fr', [a for _, a, _ in recips])

    def test_cancel(self):
        self.numbered_book(20)
        peer = self.start_peer(delay=0.1)
        self.new('promo', 'promo', 'email', 'commercial')
        p = self.launch_bg('promo')
        self.wait_accepted(3, p)
        t0 = time.monotonic()
        self.ok('campaign', 'cancel', 'promo')
        r = self.finish(p, timeout=10)
        took = time.monotonic() - t0
        self.assertIn(r.rc, (0, 1), r)
        k = len(peer.messages())
        self.assertLess(k, 20, 'the launch ignored the cancel and sent all 20 (%.1f s):\n%r'
                        % (took, r))
        self.assertLess(took, 2.5, 'launch took %.1f s to stop after cancel' % took)
        st = self.counts('promo')
        self.assertEqual((st['state'], st['sent']), ('cancelled', k))
        self.fails('campaign', 'resume', 'promo')
        self.run_postier('campaign', 'launch', 'promo', '--yes')
        self.ok('run')
        time.sleep(0.3)
        self.assertEqual(len(peer.messages()), k, 'a cancelled campaign kept sending')
        self.assertEqual(self.counts('promo')['state'], 'cancelled')
        self.verify_history()

    def test_cancel_draft(self):
        self.numbered_book(3)
        peer = self.start_peer()
        self.new('brouillon', 'promo', 'email', 'commercial')
        self.ok('campaign', 'cancel', 'brouillon')
        self.assertEqual(self.counts('brouillon')['state'], 'cancelled')
        self.fails('campaign', 'resume', 'brouillon')
        self.run_postier('campaign', 'launch', 'brouillon', '--yes')
        self.assertEqual(peer.messages(), [])

    def test_kill_9_then_resume(self):
        addrs = self.numbered_book(self.N)
        self.start_peer(delay=0.1)
        self.new('promo', 'promo', 'email', 'commercial')
        p = self.launch_bg('promo')
        self.wait_accepted(10, p)
        p.send_signal(signal.SIGKILL)
        p.wait()
        k = self.peer.accepted_count()
        self.assertLess(k, self.N)
        late = self.add_contact('--party', 'P1', '--last-name', 'Tardif', '--email',
                                'tardif@lefevre.fr', '--consents', ALL)
        r = self.run_postier('campaign', 'resume', 'promo')
        how = 'resume'
        if r.rc == 2:
            how = 'launch'
            r = self.run_postier('campaign', 'launch', 'promo', '--yes')
        self.assertEqual(r.rc, 0, r)
        got = self.by_rcpt()
        self.assertEqual(sorted(got), sorted(addrs), 'after %s' % how)
        dups = {a: ms for a, ms in got.items() if len(ms) > 1}
        self.assertLessEqual(sum(len(ms) - 1 for ms in got.values()), 1, sorted(dups))
        for a, ms in dups.items():
            self.assertEqual(len({mid(m['Message-ID']) for m in ms}), 1, a)
            self.assertEqual(len({self.token_of(m) for m in ms}), 1, a)
        tokens = [self.token_of(ms[0]) for ms in got.values()]
        self.assertEqual(len(set(tokens)), self.N)
        rows = self.camp_history('promo')
        self.assertNotIn(late, [h['contact_id'] for h in rows])
        sent = collections.Counter(h['address'] for h in rows if h['event'] == 'sent')
        self.assertEqual(sorted(sent), sorted(addrs))
        self.assertEqual(max(sent.values()), 1)
        self.assertEqual(self.counts('promo'),
                         dict(state='done', recipients=self.N, queued=0, sent=self.N,
                              deferred=0, failed=0, skipped=0))
        self.verify_history()
        sys.stderr.write('\n  killed after %d accepted, %s: %d duplicate(s) '
                         % (k, how, len(dups)))


class Scheduled(CampaignCase):
    def test_at_sent_by_run(self):
        self.numbered_book(3)
        peer = self.start_peer()
        self.new('relance', 'info', 'email', 'service')
        r = self.run_at('2036-12-01 09:00:00', 'campaign', 'launch', 'relance', '--yes',
                        '--at', '2036-12-01 14:30')
        self.assertIn('campaign relance scheduled for 2036-12-01 14:30', r.out)
        self.assertEqual(peer.messages(), [])
        self.assertEqual(self.counts('relance')['state'], 'scheduled')
        (c,) = self.json('campaign', 'list')
        self.assertRegex(c['scheduled_at'] or '', r'^2036-12-01[ T]14:30')
        self.assertEqual(c['state'], 'scheduled')
        self.ok('run')  # the real clock: before
        self.run_at('2036-12-01 14:00:00', 'run')
        self.assertEqual(peer.messages(), [])
        self.assertEqual(self.counts('relance')['state'], 'scheduled')
        self.run_at('2036-12-01 14:31:00', 'run')
        self.assertEqual(sorted(m['rcpt'][0] for m in peer.messages()),
                         ['c00@lefevre.fr', 'c01@lefevre.fr', 'c02@lefevre.fr'])
        self.assertEqual(self.counts('relance'),
                         dict(state='done', recipients=3, queued=0, sent=3, deferred=0,
                              failed=0, skipped=0))
        self.run_at('2036-12-01 15:00:00', 'run')
        self.assertEqual(len(peer.messages()), 3)
        rows = self.camp_history('relance')
        self.assertTrue(all(h['at'].startswith('2036-12-01') for h in rows
                            if h['event'] == 'sent'), rows)
        self.verify_history()


class Sms(CampaignCase):
    def check_request(self, req, to, text):
        self.assertEqual(req['method'], 'POST', req)
        self.assertEqual(req['headers'].get('authorization'), 'Bearer tok123', req)
        self.assertEqual(json.loads(req['body'].decode('utf-8')),
                         {'from': 'POSTIER', 'to': to, 'text': text})
        self.assertEqual(req['status'], 200, req)

    def test_commercial_quiet_hours_and_stop(self):
        ids = self.book(SMS_BOOK)
        gw = self.start_gw()
        self.new('sms-promo', 'smspromo', 'sms', 'commercial')
        recips, excluded, r = self.preview('sms-promo')
        self.assertEqual(sorted(a for _, a, _ in recips), sorted([MOBILE['Martin'],
                                                                 MOBILE['Moreau']]), r)
        # Sunday afternoon: quiet
        r = self.run_at('2026-11-22 15:00:00', 'campaign', 'launch', 'sms-promo', '--yes',
                        rc=None)
        self.assertIn(r.rc, (0, 1), r)
        self.summary(r, 'sms-promo')
        self.assertEqual(gw.requests(), [])
        st = self.counts('sms-promo')
        self.assertEqual((st['recipients'], st['queued'], st['sent'], st['failed'],
                          st['skipped']), (2, 2, 0, 0, 4), st)
        self.assertEqual(self.skipped('sms-promo'),
                         {ids['Lefèvre']: 'no_consent:sms_marketing',
                          ids['Dupont']: 'no_consent:commercial',
                          ids['Fixe']: 'no_phone',
                          ids['Doublon']: 'duplicate_address'})
        rows = self.camp_history('sms-promo')
        self.assertEqual(sorted(h['address'] for h in rows if h['event'] == 'queued'),
                         sorted([MOBILE['Martin'], MOBILE['Moreau']]))
        self.assertEqual([h for h in rows if h['event'] == 'sent'], [])
        # Monday 07:30 is still quiet (20:00-08:00)
        self.run_at('2026-11-23 07:30:00', 'run')
        self.assertEqual(gw.requests(), [])
        # Monday 09:00
        self.run_at('2026-11-23 09:00:00', 'run')
        reqs = gw.requests()
        self.assertEqual(sorted(q['to'] for q in reqs), sorted([MOBILE['Martin'],
                                                               MOBILE['Moreau']]))
        texts = {MOBILE['Martin']: "Bonjour Élodie, -20% chez Boulangerie Lefèvre jusqu'au 31/12.",
                 MOBILE['Moreau']: "Bonjour Inès, -20% chez Boulangerie Lefèvre jusqu'au 31/12."}
        for q in reqs:
            text = json.loads(q['body'].decode('utf-8'))['text']
            self.assertTrue(text.endswith(STOP), text)
            self.assertEqual(text.count('STOP'), 1, text)
            self.assertTrue(text.startswith(texts[q['to']]), text)
            self.check_request(q, q['to'], text)
        self.assertEqual(self.counts('sms-promo'),
                         dict(state='done', recipients=2, queued=0, sent=2, deferred=0,
                              failed=0, skipped=4))
        rows = self.camp_history('sms-promo')
        sent = [h for h in rows if h['event'] == 'sent']
        self.assertEqual(sorted(h['address'] for h in sent),
                         sorted([MOBILE['Martin'], MOBILE['Moreau']]))
        for h in rows:
            self.assertEqual(h['channel'], 'sms', h)
        self.assertTrue(all(h['at'].startswith('2026-11-23') for h in sent), sent)
        self.run_at('2026-11-23 10:00:00', 'run')
        self.assertEqual(len(gw.requests()), 2)
        # partner SMS needs `partner` too (preview only)
        self.new('sms-partner', 'smspromo', 'sms', 'partner')
        recips, excluded, r = self.preview('sms-partner')
        self.assertEqual([a for _, a, _ in recips], [MOBILE['Moreau']], r)
        self.assertTrue([ln for ln in excluded if 'Martin' in ln
                         and ln.endswith('(no_consent:partner)')], excluded)
        self.verify_history()

    def test_service_sent_at_once_on_sunday(self):
        ids = self.book(SMS_BOOK)
        gw = self.start_gw()
        self.new('sms-info', 'smsinfo', 'sms', 'service')
        r = self.run_at('2026-11-22 15:00:00', 'campaign', 'launch', 'sms-info', '--yes')
        self.assertEqual(self.summary(r, 'sms-info'),
                         dict(recipients=4, sent=4, deferred=0, failed=0, skipped=2,
                              reasons={'no_phone': 1, 'duplicate_address': 1}))
        reqs = gw.requests()
        self.assertEqual(sorted(q['to'] for q in reqs), sorted(MOBILE.values()))
        for q in reqs:
            self.check_request(q, q['to'],
                               'Boulangerie Lefèvre : votre agence sera fermée le 24/12. '
                               + SENDER_NAME)
        self.assertEqual(self.skipped('sms-info'), {ids['Fixe']: 'no_phone',
                                                    ids['Doublon']: 'duplicate_address'})
        self.assertEqual(self.counts('sms-info'),
                         dict(state='done', recipients=4, queued=0, sent=4, deferred=0,
                              failed=0, skipped=2))
        self.verify_history()


if __name__ == '__main__':
    e2e.main()
