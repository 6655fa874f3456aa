/* `postier demo [DIR]`: a realistic demo book (an insurance broker's and
 * an ERP's contacts: clients, a supplier, a company, an introducer, a claim
 * with its expert and garage) written as CSV files into a fresh folder and
 * imported there, so the product can be seen working with no setup. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contacts/contacts.h"
#include "documents/documents.h"
#include "run/run.h"
#include "util/buf.h"
#include "util/date.h"
#include "util/xalloc.h"

static const char usage[] =
    "Usage: postier demo [DIR]\n\n"
    "Builds a demo book in DIR (default: a new folder under /tmp): a config, a\n"
    "database, and the CSV files it was imported from (parties, addresses,\n"
    "contacts with varied flags, consents and validity, a claim with an expert\n"
    "and a garage, one document of each type), then runs the nightly job on it\n"
    "with the Maildir transport and prints where the messages are.\n";

static const char parties_csv[] =
    "ref,kind,name,civility,first_name,last_name,email,phones,locale,client_ref\n"
    "C001,client,Boulangerie Lefèvre SARL,,,,contact@boulangerie-lefevre.fr,01 42 00 00 01,fr,\n"
    "C002,client,Hélène Durand,Mme,Hélène,Durand,helene.durand@exemple.fr,06 11 22 33 44,fr,\n"
    "C003,client,Transports Moreau SAS,,,,accueil@transports-moreau.fr,04 72 00 00 03,fr,\n"
    "C004,client,Harbour Shipping Ltd,Mr,James,Whitaker,james@harbour-shipping.example,"
    "+44 20 7946 0958,en,\n"
    "S001,supplier,Imprimerie du Centre,,,,commandes@imprimerie-centre.fr,02 47 00 00 05,fr,\n"
    "A001,company,Mutuelle Atlantique Assurances,,,,gestion@mutuelle-atlantique.fr,"
    "05 56 00 00 06,fr,\n"
    "I001,introducer,Cabinet Roux Courtage,M.,Pierre,Roux,pierre.roux@roux-courtage.fr,"
    "06 98 76 54 32,fr,\n"
    "SIN-2026-0042,claim,Sinistre auto 2026-0042 (Durand),,,,,,fr,C002\n";

static const char addresses_csv[] =
    "party_ref,label,lines,postcode,city,country,contact_name,contact_email,contact_phone\n"
    "C001,Siège,12 rue de la Paix,75002,Paris,France,Sophie Martin,"
    "siege@boulangerie-lefevre.fr,01 42 00 00 10\n"
    "C001,Atelier Montreuil,8 avenue du Progrès,93100,Montreuil,France,Karim Benali,"
    "atelier@boulangerie-lefevre.fr,01 48 00 00 11\n"
    "C003,Entrepôt Lyon,ZI des Chênes,69800,Saint-Priest,France,Luc Bernard,"
    "entrepot@transports-moreau.fr,04 72 00 00 12\n";

static const char contacts_csv[] =
    "party_ref,type,civility,last_name,first_name,company,department,function,email,phones,"
    "fax,address,postcode,city,country,site,website,note,locale,display_order,valid_from,"
    "valid_until,flags,consents\n"
    "C001,compta,Mme,Martin,Sophie,Boulangerie Lefèvre SARL,Comptabilité,Comptable,"
    "compta@boulangerie-lefevre.fr,01 42 00 00 20,,,,,,Siège,,,fr,1,2020-01-01,,"
    "invoice|payment_reminder|due_notice,commercial|esign\n"
    "C001,dir,M.,Lefèvre,Antoine,Boulangerie Lefèvre SARL,Direction,Gérant,"
    "antoine@boulangerie-lefevre.fr,06 12 34 56 78;01 42 00 00 21,,,,,,,,"
    "Préfère être appelé le matin,fr,2,,,order|after_sales,commercial|partner|sms_marketing\n"
    "C001,log,M.,Benali,Karim,,Logistique,Chef d'atelier,atelier@boulangerie-lefevre.fr,"
    "06 22 33 44 55,,,,,,Atelier Montreuil,,,fr,3,,,order|receiver,\n"
    "C001,compta,Mme,Petit,Claire,,Comptabilité,Ancienne comptable,"
    "claire.petit@boulangerie-lefevre.fr,,,,,,,,,Partie en 2025,fr,4,2018-03-01,2025-06-30,"
    "invoice|payment_reminder,\n"
    "C002,,Mme,Durand,Hélène,,,,helene.durand@exemple.fr,06 11 22 33 44,,5 allée des Tilleuls,"
    "44000,Nantes,France,,,,fr,1,,,due_notice|payment_reminder|claim_settlement|"
    "document_reminder,esign|sms_marketing\n"
    "C003,compta,M.,Moreau,Julien,Transports Moreau SAS,Finance,DAF,"
    "julien.moreau@transports-moreau.fr,04 72 00 00 30,04 72 00 00 31,,,,,,"
    "https://transports-moreau.fr,,fr,1,,,invoice|payment_reminder|due_notice,partner\n"
    "C003,log,M.,Bernard,Luc,Transports Moreau SAS,Exploitation,Chef d'entrepôt,"
    "luc.bernard@transports-moreau.fr,06 45 67 89 01,,,,,,Entrepôt Lyon,,,fr,2,,,"
    "order|after_sales|receiver,\n"
    "C004,,Mr,Whitaker,James,Harbour Shipping Ltd,Accounts,Finance director,"
    "accounts@harbour-shipping.example,+44 20 7946 0959,,,,,,,,,en,1,,,"
    "invoice|payment_reminder|order,commercial\n"
    "S001,,Mme,Garnier,Anne,Imprimerie du Centre,ADV,Assistante commerciale,"
    "adv@imprimerie-centre.fr,02 47 00 00 40,,,,,,,,,fr,1,,,order|after_sales,\n"
    "A001,,M.,Fontaine,Marc,Mutuelle Atlantique Assurances,Sinistres,Gestionnaire,"
    "sinistres@mutuelle-atlantique.fr,05 56 00 00 50,,,,,,,,,fr,1,,,claim_settlement,\n"
    "I001,,M.,Roux,Pierre,Cabinet Roux Courtage,,Apporteur,pierre.roux@roux-courtage.fr,"
    "06 98 76 54 32,,,,,,,,,fr,1,,,invoice|payment_reminder,commercial|partner\n"
    "SIN-2026-0042,exp,M.,Blanc,Étienne,Cabinet Blanc Expertises,,Expert automobile,"
    "e.blanc@blanc-expertises.fr,06 70 80 90 10,,3 rue Sainte-Catherine,33000,Bordeaux,"
    "France,,,Mission 2026-118,fr,1,,,claim_settlement|document_reminder,\n"
    "SIN-2026-0042,gar,,,,Garage de l'Estuaire,Atelier,Réparateur agréé,"
    "atelier@garage-estuaire.fr,02 40 00 00 60,,14 quai de la Fosse,44000,Nantes,France,"
    ",,,fr,2,,,claim_settlement,\n"
    "SIN-2026-0042,,M.,Durand,Paul,,,,paul.durand@exemple.fr,07 11 22 33 44,,,,,,,,,fr,3,"
    "2026-01-01,,claim_settlement,esign\n";

/* One document of each type (and a few more showing the rules: a site, an
 * English-speaking client, a fallback to the main contact). */
static const struct {
    const char *type, *csv;
} documents[] = {
    {"invoice",
     "ref,party_ref,amount,issue_date,due_date,lines\n"
     "F2026-0142,C001,1234.56,2026-11-20,2026-12-15,\"[{\"\"label\"\": \"\"Farine T65 (25 kg) x 40\"\", "
     "\"\"amount\"\": \"\"980.00\"\"}, {\"\"label\"\": \"\"Livraison\"\", \"\"amount\"\": "
     "\"\"254.56\"\"}]\"\n"
     "F2026-0143,S001,310.00,2026-11-21,2026-12-21,\n"
     "F2026-0144,C004,2450.00,2026-11-21,2026-12-21,\n"},
    {"payment_reminder", "ref,party_ref,amount,due_date\nR2026-0007,C003,5870.40,2026-10-31\n"},
    {"due_notice",
     "ref,party_ref,esign,amount,due_date,contract,period\n"
     "AE-2026-311,C002,1,412.80,2027-01-01,AUTO-88214,01/01/2027 - 31/12/2027\n"},
    {"document_reminder",
     "ref,party_ref,missing,deadline\n"
     "PM-2026-0042,SIN-2026-0042,\"constat amiable signé, photos du véhicule\",2026-12-05\n"},
    {"claim_settlement",
     "ref,party_ref,amount,settlement_date\nRS-2026-0042,SIN-2026-0042,3180.00,2026-11-23\n"},
    {"order",
     "ref,party_ref,address,amount,delivery_date,lines\n"
     "CMD-2026-1187,C001,Atelier Montreuil,642.00,2026-11-27,\"[{\"\"label\"\": \"\"Sacs kraft\"\", "
     "\"\"quantity\"\": \"\"500\"\", \"\"amount\"\": \"\"642.00\"\"}]\"\n"},
    {"after_sales",
     "ref,party_ref,status,message\n"
     "SAV-2026-0313,C003,Intervention planifiée,\"Un technicien passera le 26/11 entre 8 h et 10 h.\"\n"},
};

static const char *const types[][2] = {
    {"compta", "Comptabilité"}, {"dir", "Direction"}, {"log", "Logistique"},
    {"exp", "Expert"},          {"gar", "Garage"},    {"tiers", "Tiers"},
};

static int write_file(const char *dir, const char *name, const char *text, struct buf *path,
                      struct err *e)
{
    FILE *f;

    buf_reset(path);
    buf_printf(path, "%s/%s", dir, name);
    f = fopen(buf_str(path), "w");
    if (!f || fputs(text, f) == EOF || fclose(f)) {
        if (f)
            fclose(f);
        return err_set(e, ERR_IO, "%s: %s", buf_str(path), strerror(errno));
    }
    return 0;
}

/* The shipped templates into dir/templates, so the demo folder is
 * complete and its templates can be edited. */
static int copy_templates(const char *dir, struct err *e)
{
    struct buf to;
    int rc, copied;

    buf_init(&to, 0);
    buf_printf(&to, "%s/templates", dir);
    rc = cli_install_templates(buf_str(&to), &copied, e);
    buf_release(&to);
    return rc;
}

static void on_error(void *ctx, const char *msg)
{
    (void)ctx;
    cli_print_one_line(stderr, "postier: ", msg);
}

static int load_book(struct cli *c, const char *dir, struct err *e)
{
    static const struct {
        const char *file, *text;
        enum store_kind kind;
    } files[] = {{"parties.csv", parties_csv, STORE_PARTY},
                 {"addresses.csv", addresses_csv, STORE_ADDRESS},
                 {"contacts.csv", contacts_csv, STORE_CONTACT}};
    struct import_opts io = {.on_error = on_error};
    struct import_report rep;
    struct buf path;
    size_t i;
    int rc = 0;

    for (i = 0; i < sizeof types / sizeof types[0] && !rc; i++)
        rc = store_type_add(c->store, types[i][0], types[i][1], NULL, e);
    buf_init(&path, 0);
    for (i = 0; i < sizeof files / sizeof files[0] && !rc; i++) {
        rc = write_file(dir, files[i].file, files[i].text, &path, e);
        if (!rc)
            rc = contacts_import(c->store, files[i].kind, buf_str(&path), &io, &rep, e);
        if (!rc)
            printf("imported %-14s %lld rows\n", files[i].file, rep.rows);
    }
    for (i = 0; i < sizeof documents / sizeof documents[0] && !rc; i++) {
        char name[64];
        snprintf(name, sizeof name, "documents-%s.csv", documents[i].type);
        rc = write_file(dir, name, documents[i].csv, &path, e);
        if (!rc)
            rc = documents_import(c->store, documents[i].type, buf_str(&path), &io, &rep, e);
        if (!rc)
            printf("imported %-28s %lld %s\n", name, rep.added,
                   rep.added == 1 ? "document" : "documents");
    }
    buf_release(&path);
    return rc;
}

static void show_line(void *ctx, const char *l)
{
    (void)ctx;
    printf("  %s\n", l);
}

/* The nightly job on the demo book, with the dry run's decisions shown
 * first so the rules can be seen at work. */
static int demo_run(struct cli *c, const char *today)
{
    struct run_opts o = {.date = today, .dry_run = 1, .on_line = show_line};
    struct run_summary s;
    struct err e;

    printf("\nWho gets what (postier run --dry-run):\n");
    if (run_nightly(c->store, c->cfg, &o, &s, &e))
        return cli_fail(&e);
    o.dry_run = 0;
    o.on_line = NULL;
    if (run_nightly(c->store, c->cfg, &o, &s, &e))
        return cli_fail(&e);
    printf("\npostier run: %lld documents, %lld messages queued, %lld sent, %lld skipped, "
           "%lld failed\n",
           s.documents, s.queued, s.sent, s.skipped, s.failed);
    printf("The messages are in the Maildir %s/new (open it with any mail client,\n"
           "e.g. mutt -f %s).\n",
           c->cfg->email_maildir, c->cfg->email_maildir);
    return s.failed ? EXIT_PARTIAL : 0;
}

int cmd_demo(struct cli *c, int argc, char **argv)
{
    char tmpl[] = "/tmp/postier-demo-XXXXXX", today[DATE_LEN + 1];
    const char *dir;
    struct store_query q = {0};
    struct cli_list l;
    struct buf cfg;
    struct err e;
    int rc;

    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 2)
        return cli_usage("demo", "expected at most one DIR");
    if (argc == 2) {
        dir = argv[1];
        if (mkdir(dir, 0755) && errno != EEXIST)
            return err_set(&e, ERR_IO, "%s: %s", dir, strerror(errno)), cli_fail(&e);
    } else if (!(dir = mkdtemp(tmpl))) {
        return err_set(&e, ERR_IO, "%s: %s", tmpl, strerror(errno)), cli_fail(&e);
    }
    buf_init(&cfg, 0);
    buf_printf(&cfg, "%s/postier.db", dir);
    if (access(buf_str(&cfg), F_OK) == 0) {
        err_set(&e, ERR_EXISTS, "%s already holds a demo database: give an empty folder", dir);
        buf_release(&cfg);
        return cli_fail(&e);
    }
    buf_reset(&cfg);
    buf_printf(&cfg, "%s/config/postier.ini", dir);
    c->config_path = buf_str(&cfg);
    c->db_path = NULL;
    rc = cmd_init(c, 1, argv);
    if (!rc && (copy_templates(dir, &e) || load_book(c, dir, &e)))
        rc = cli_fail(&e);
    if (!rc) {
        printf("\nThe demo book is in %s. A first look (contacts active today):\n\n", dir);
        cli_list_init(&l);
        date_today(today);
        q.date = today;
        rc = cli_rec_list(c, STORE_CONTACT, &q, &l, "contacts");
    }
    if (!rc)
        rc = demo_run(c, today);
    if (!rc || rc == EXIT_PARTIAL)
        printf("\nTry: postier --config %s history list\n"
               "     postier --config %s contacts list --search \"hélène\"\n",
               buf_str(&cfg), buf_str(&cfg));
    /* c->config_path points into cfg: the CLI is done with it here */
    c->config_path = NULL;
    buf_release(&cfg);
    return rc;
}
