/* Unit tests for src/registry: matching keys, the Trésor's JSON feed (the
 * real sample file of shared/samples, copied into tests/data/registry, and
 * hostile variants), the CSV form in
 * UTF-8 and Windows-1252, matching contacts against names and aliases, and
 * bad input reported with file and entry or line.  Input files are written
 * by the tests into a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"
#include "util/buf.h"
#include "util/err.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* assert_string_equal that fails, rather than crashes, on NULL. */
#define assert_str(got, want)                                                                      \
    do {                                                                                           \
        const char *got_ = (got);                                                                  \
        if (!got_)                                                                                 \
            fail_msg("%s is NULL, want '%s'", #got, (want));                                       \
        assert_string_equal(got_, (want));                                                         \
    } while (0)

static char tmpdir[] = "/tmp/test_registry.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

/* Writes len bytes (strlen when 0) to tmpdir/name; returns the malloc'd path. */
static char *write_file(const char *name, const char *data, size_t len)
{
    struct buf path;
    FILE *f;

    buf_init(&path, 0);
    buf_printf(&path, "%s/%s", tmpdir, name);
    f = fopen(buf_str(&path), "wb");
    assert_non_null(f);
    if (!len)
        len = strlen(data);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return buf_take(&path);
}

static void remove_file(char *path)
{
    assert_int_equal(unlink(path), 0);
    free(path);
}

/* Loads data written to a file called name; fails the test on error. */
static void load_ok(const char *name, const char *data, struct registry *r)
{
    char *path = write_file(name, data, 0);
    struct err e = {0};

    if (registry_load(path, r, &e))
        fail_msg("%s: %s", name, e.msg);
    assert_int_equal(e.code, 0);
    remove_file(path);
}

/* An entry's aliases joined with '|', for compact comparison. */
static void check_aliases(const struct registry_entry *en, const char *want)
{
    struct buf b;
    size_t i;

    buf_init(&b, 0);
    for (i = 0; i < en->naliases; i++)
        buf_printf(&b, "%s%s", i ? "|" : "", en->aliases[i]);
    if (strcmp(buf_str(&b), want))
        fail_msg("%s: aliases '%s' != '%s'", en->name, buf_str(&b), want);
    if (!en->naliases)
        assert_null(en->aliases);
    buf_release(&b);
}

/* ---- keys ---- */

struct keycase {
    const char *in;
    const char *want;
};

/* clang-format off */
static const struct keycase key_cases[] = {
    {"Lef\xc3\xa8vre-Dupont, Jean", "dupont jean lefevre"},
    {"", ""},
    {"  ,.-'  \t", ""},
    {"I. P. Exemplov", "exemplov i p"},
    {"EXEMPLOV Ivan Petrovitch", "exemplov ivan petrovitch"},
    {"Ivan\tPetrovitch\r\n  EXEMPLOV", "exemplov ivan petrovitch"},
    {"Soci\xc3\xa9t\xc3\xa9 Fictive d'Import-Export", "d export fictive import societe"},
    {"\xc5\x92UVRE Stra\xc3\x9f" "e", "oeuvre strasse"},            /* ŒUVRE Straße */
    {"b a b", "a b b"},                                              /* repeats kept */
    {"Navire 2 Star", "2 navire star"},
    {"\xef\xbc\xa1\xef\xbc\xa2 co", "ab co"},                        /* full-width ＡＢ */
    {"s r q p o n m l k j i h g f e d c b a t", "a b c d e f g h i j k l m n o p q r s t"},
    {"a\xff" "b c", "ab c"},                                         /* invalid byte dropped */
    {"O'Brien", "brien o"},
};
/* clang-format on */

static void test_key(void **state)
{
    size_t i;
    char *k;

    (void)state;
    for (i = 0; i < N_ELEMS(key_cases); i++) {
        k = registry_key(key_cases[i].in);
        if (strcmp(k, key_cases[i].want))
            fail_msg("key('%s') = '%s', want '%s'", key_cases[i].in, k, key_cases[i].want);
        free(k);
    }
    k = registry_key(NULL);
    assert_str(k, "");
    free(k);
}

/* ---- the sample published file ---- */

static char *sample_path(void)
{
    const char *src = getenv("POSTIER_SRC");
    struct buf b;
    char *p;

    if (!src)
        fail_msg("POSTIER_SRC is not set");
    buf_init(&b, 0);
    buf_printf(&b, "%s/tests/data/registry/registre-gels-sample.json", src);
    p = buf_take(&b);
    if (access(p, R_OK))
        fail_msg("sample file %s is missing", p);
    return p;
}

/* Loads the sample published file; fails the test on error. */
static void load_sample(struct registry *r)
{
    char *path = sample_path();
    struct err e = {0};

    if (registry_load(path, r, &e))
        fail_msg("%s", e.msg);
    free(path);
}

static void test_sample_load(void **state)
{
    struct registry r;

    (void)state;
    load_sample(&r);
    assert_int_equal(r.n, 3);
    assert_str(r.published, "2026-11-20T09:30:00+01:00");

    assert_str(r.v[0].id, "9001");
    assert_str(r.v[0].name, "EXEMPLOV Ivan Petrovitch");
    assert_str(r.v[0].nature, "Personne physique");
    assert_str(r.v[0].birth_date, "1961-03-12");
    check_aliases(&r.v[0], "Ivan EXEMPLOFF|I. P. Exemplov");

    assert_str(r.v[1].id, "9002");
    assert_str(r.v[1].name, "Soci\xc3\xa9t\xc3\xa9 Fictive d'Import-Export");
    assert_str(r.v[1].nature, "Personne morale");
    assert_null(r.v[1].birth_date);
    check_aliases(&r.v[1], "SFIE");

    assert_str(r.v[2].id, "9003");
    assert_str(r.v[2].name, "EXEMPLE STAR");
    assert_str(r.v[2].nature, "Navire");
    assert_null(r.v[2].birth_date);
    check_aliases(&r.v[2], "");

    registry_free(&r);
    assert_null(r.v);
    assert_int_equal(r.n, 0);
    assert_null(r.published);
    registry_free(&r); /* twice: harmless */
    registry_free(NULL);
}

struct matchcase {
    const char *name;
    const char *first, *last, *company;
    const char *id;    /* expected entry id, NULL: no match */
    const char *which; /* expected published string */
};

/* clang-format off */
static const struct matchcase sample_matches[] = {
    {"first names + last", "Ivan Petrovitch", "Exemplov", NULL, "9001", "EXEMPLOV Ivan Petrovitch"},
    {"accents, hyphen, case", "ivan-PETROVITCH", "Ex\xc3\xa9mplov", "", "9001",
     "EXEMPLOV Ivan Petrovitch"},
    {"all in last", NULL, "Exemplov Ivan Petrovitch", NULL, "9001", "EXEMPLOV Ivan Petrovitch"},
    {"all in last, empty first", "", "Petrovitch, Ivan EXEMPLOV", NULL, "9001",
     "EXEMPLOV Ivan Petrovitch"},
    {"alias, words swapped", "EXEMPLOFF", "ivan", NULL, "9001", "Ivan EXEMPLOFF"},
    {"alias, usual order", "Ivan", "Exemploff", NULL, "9001", "Ivan EXEMPLOFF"},
    {"alias with initials", "I. P.", "Exemplov", NULL, "9001", "I. P. Exemplov"},
    {"initials without dots", "i p", "EXEMPLOV", NULL, "9001", "I. P. Exemplov"},
    {"company name", NULL, NULL, "Societe fictive d'import export", "9002",
     "Soci\xc3\xa9t\xc3\xa9 Fictive d'Import-Export"},
    {"company acronym", NULL, NULL, "SFIE", "9002", "SFIE"},
    {"company acronym, person no match", "Jean", "Martin", "s.f.i.e", NULL, NULL},
    {"person no match, company match", "Jean", "Martin", "sfie", "9002", "SFIE"},
    {"vessel", NULL, NULL, "Exemple-Star", "9003", "EXEMPLE STAR"},
    {"person key can match a company", NULL, "SFIE", NULL, "9002", "SFIE"},
    {"first name alone", "Ivan", NULL, NULL, NULL, NULL},
    {"without the middle name", "Ivan", "Exemplov", NULL, NULL, NULL},
    {"one letter more", "Ivan Petrovitch", "Exemplova", NULL, NULL, NULL},
    {"one word more", "Ivan Petrovitch Jr", "Exemplov", NULL, NULL, NULL},
    {"last name only", NULL, "Exemplov", NULL, NULL, NULL},
    {"different company", NULL, NULL, "Societe fictive d'import", NULL, NULL},
    {"company with more words", NULL, NULL, "SFIE SA", NULL, NULL},
    {"company near the alias", NULL, NULL, "SFI", NULL, NULL},
    {"nothing", NULL, NULL, NULL, NULL, NULL},
    {"all empty", "", "", "", NULL, NULL},
    {"punctuation only", "-", ".", "'--'", NULL, NULL},
};
/* clang-format on */

/* which is the published string itself, not a copy. */
static int is_own_string(const struct registry_entry *en, const char *which)
{
    size_t i;

    if (which == en->name)
        return 1;
    for (i = 0; i < en->naliases; i++)
        if (which == en->aliases[i])
            return 1;
    return 0;
}

static void run_matches(const struct registry *r, const struct matchcase *c, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const char *which = "garbage";
        const struct registry_entry *en =
            registry_match(r, c[i].first, c[i].last, c[i].company, &which);

        if (!c[i].id) {
            if (en)
                fail_msg("%s: matched %s via '%s'", c[i].name, en->id, which);
            if (which)
                fail_msg("%s: which not reset", c[i].name);
            continue;
        }
        if (!en)
            fail_msg("%s: no match", c[i].name);
        if (strcmp(en->id, c[i].id) || !which || strcmp(which, c[i].which))
            fail_msg("%s: matched %s via '%s'", c[i].name, en->id, which ? which : "(null)");
        if (!is_own_string(en, which))
            fail_msg("%s: which is not the entry's own string", c[i].name);
        assert_ptr_equal(registry_match(r, c[i].first, c[i].last, c[i].company, NULL), en);
    }
}

static void test_sample_match(void **state)
{
    struct registry r;

    (void)state;
    load_sample(&r);
    run_matches(&r, sample_matches, N_ELEMS(sample_matches));
    registry_free(&r);
    assert_null(registry_match(&r, "Ivan Petrovitch", "Exemplov", NULL, NULL));
}

/* ---- JSON variants ---- */

static const char json_variants[] =
    "\xef\xbb\xbf \r\n{\"Publications\": {\"PublicationDetail\": [\n"
    /* string id, numbers for the date, day missing, two PRENOM values */
    "{\"IdRegistre\": \"A-1\", \"Nature\": \"Personne physique\", \"Nom\": \"Dupont\",\n"
    " \"RegistreDetail\": [\n"
    "  {\"TypeChamp\": \"PRENOM\", \"Valeur\": [{\"Prenom\": \"Jean\"}, {\"Prenom\": \"  \"}]},\n"
    "  {\"TypeChamp\": \"PRENOM\", \"Valeur\": [{\"Prenom\": \"Luc\"}]},\n"
    "  {\"TypeChamp\": \"DATE_DE_NAISSANCE\", \"Valeur\": [{\"Mois\": 7, \"Annee\": 1950}]},\n"
    "  {\"TypeChamp\": \"DATE_DE_NAISSANCE\", \"Valeur\": [{\"Jour\": 1, \"Mois\": 1, "
    "\"Annee\": 1951}]},\n"
    "  {\"TypeChamp\": \"ALIAS\", \"Valeur\": [{\"Alias\": \"\"}, {\"Commentaire\": \"x\"}, "
    "{\"Alias\": \"J. L. D.\"}]}\n"
    " ]},\n"
    /* no Nature: given names are not joined; first date lacks a year */
    "{\"IdRegistre\": 12, \"Nom\": \"Solo\", \"RegistreDetail\": [\n"
    "  {\"TypeChamp\": \"PRENOM\", \"Valeur\": [{\"Prenom\": \"Han\"}]},\n"
    "  {\"TypeChamp\": \"DATE_DE_NAISSANCE\", \"Valeur\": [{\"Jour\": \"3\", \"Mois\": \"4\"}, "
    "{\"Annee\": \" 1977 \", \"Mois\": \"\"}]}]},\n"
    /* no IdRegistre, a bad day, odd RegistreDetail members */
    "{\"Nature\": \"Personne physique\", \"Nom\": \"Z\", \"RegistreDetail\": [\n"
    "  {\"TypeChamp\": \"DATE_DE_NAISSANCE\", \"Valeur\": [{\"Jour\": \"31\", \"Mois\": \"02\", "
    "\"Annee\": \"1980\"}]},\n"
    "  {\"TypeChamp\": \"UNKNOWN\", \"Valeur\": [{\"Prenom\": \"Not\"}]},\n"
    "  {\"TypeChamp\": \"ALIAS\", \"Valeur\": {\"Alias\": \"not an array\"}},\n"
    "  {\"Valeur\": [{\"Alias\": \"no type\"}]}, 42, \"text\"]},\n"
    /* a year that is not a year, RegistreDetail not an array */
    "{\"IdRegistre\": 5, \"Nature\": \"Personne morale\", \"Nom\": \"Corp\", \"RegistreDetail\": "
    "{},\n \"Extra\": [1, 2]},\n"
    "{\"IdRegistre\": 6, \"Nature\": \"Personne physique\", \"Nom\": \"Y\", \"RegistreDetail\": [\n"
    "  {\"TypeChamp\": \"DATE_DE_NAISSANCE\", \"Valeur\": [{\"Annee\": \"vers 1960\"}, "
    "{\"Annee\": 19600}, {\"Annee\": \"196\"}]}]}\n"
    "]}}\n";

static void test_json_variants(void **state)
{
    struct registry r;
    const char *which;

    (void)state;
    load_ok("variants.json", json_variants, &r);
    assert_null(r.published);
    assert_int_equal(r.n, 5);

    assert_str(r.v[0].id, "A-1");
    assert_str(r.v[0].name, "Dupont Jean Luc");
    assert_str(r.v[0].birth_date, "1950-07");
    check_aliases(&r.v[0], "J. L. D.");

    assert_str(r.v[1].id, "12");
    assert_str(r.v[1].name, "Solo");
    assert_null(r.v[1].nature);
    assert_str(r.v[1].birth_date, "1977");
    check_aliases(&r.v[1], "");

    assert_str(r.v[2].id, "entry 3");
    assert_str(r.v[2].name, "Z");
    assert_str(r.v[2].birth_date, "1980-02");
    check_aliases(&r.v[2], "");

    assert_str(r.v[3].id, "5");
    assert_str(r.v[3].name, "Corp");
    assert_null(r.v[3].birth_date);

    assert_str(r.v[4].id, "6");
    assert_null(r.v[4].birth_date);

    assert_ptr_equal(registry_match(&r, "Luc Jean", "DUPONT", NULL, &which), &r.v[0]);
    assert_ptr_equal(which, r.v[0].name);
    assert_ptr_equal(registry_match(&r, "j-l", "d", NULL, &which), &r.v[0]);
    assert_ptr_equal(which, r.v[0].aliases[0]);
    assert_null(registry_match(&r, "Han", "Solo", NULL, NULL));
    assert_ptr_equal(registry_match(&r, NULL, "solo", NULL, NULL), &r.v[1]);
    assert_null(registry_match(&r, "Jean", "Dupont", NULL, NULL));
    registry_free(&r);
}

static void test_json_empty(void **state)
{
    struct registry r;

    (void)state;
    load_ok("empty.json",
            "{\"Publications\": {\"DatePublication\": \"2026-01-02\", \"PublicationDetail\": []}}",
            &r);
    assert_int_equal(r.n, 0);
    assert_str(r.published, "2026-01-02");
    assert_null(registry_match(&r, "a", "b", "c", NULL));
    registry_free(&r);
}

/* ---- CSV ---- */

static void test_csv_utf8(void **state)
{
    static const char data[] =
        "\xef\xbb\xbfid;name;birth_date;aliases;note\r\n"
        "1;Jean-Luc LEF\xc3\x88VRE;1970-02-28;JL Lefevre | Jean Lef\xc3\xa8vre||;x\r\n"
        "\r\n"
        "2;\"Dupont,\r\nMarie\";;;\r\n"
        "3;ACME Holding;1999\r\n"
        "4;  Lone  ;1961-03;\r\n";
    static const struct matchcase cases[] = {
        {"name", "jean luc", "lefevre", NULL, "line 2", "Jean-Luc LEF\xc3\x88VRE"},
        {"alias", "Lefevre", "JL", NULL, "line 2", "JL Lefevre"},
        {"second alias", "Jean", "Lef\xc3\xa8vre", NULL, "line 2", "Jean Lef\xc3\xa8vre"},
        {"name over lines", "Marie", "Dupont", NULL, "line 4", "Dupont,\r\nMarie"},
        {"company", NULL, NULL, "acme holding", "line 6", "ACME Holding"},
        {"trimmed", NULL, "lone", NULL, "line 7", "Lone"},
        {"near miss", "Jean", "Lefevre-Dupont", NULL, NULL, NULL},
    };
    struct registry r;

    (void)state;
    load_ok("utf8.csv", data, &r);
    assert_null(r.published);
    assert_int_equal(r.n, 4);
    assert_str(r.v[0].id, "line 2");
    assert_str(r.v[0].name, "Jean-Luc LEF\xc3\x88VRE");
    assert_null(r.v[0].nature);
    assert_str(r.v[0].birth_date, "1970-02-28");
    check_aliases(&r.v[0], "JL Lefevre|Jean Lef\xc3\xa8vre");
    assert_str(r.v[1].id, "line 4");
    assert_null(r.v[1].birth_date);
    check_aliases(&r.v[1], "");
    assert_str(r.v[2].id, "line 6");
    assert_str(r.v[2].birth_date, "1999");
    assert_str(r.v[3].name, "Lone");
    assert_str(r.v[3].birth_date, "1961-03");
    run_matches(&r, cases, N_ELEMS(cases));
    registry_free(&r);
}

static void test_csv_cp1252(void **state)
{
    /* Société Générale d'Éxemple,SGE|Société Générale / François Œuvre */
    static const char data[] = "Name,Aliases\n"
                               "Soci\xe9t\xe9 G\xe9n\xe9rale d'\xc9xemple,SGE|Soci\xe9t\xe9 "
                               "G\xe9n\xe9rale\n"
                               "Fran\xe7ois \x8cuvre\n";
    static const struct matchcase cases[] = {
        {"accented company", NULL, NULL, "SOCIETE GENERALE D EXEMPLE", "line 2",
         "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale d'\xc3\x89xemple"},
        {"alias", NULL, NULL, "Generale societe", "line 2",
         "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale"},
        {"ligature", "Francois", "OEUVRE", NULL, "line 3", "Fran\xc3\xa7ois \xc5\x92uvre"},
        {"ligature in the contact", "Fran\xc3\xa7ois", "\xc5\x93uvre", NULL, "line 3",
         "Fran\xc3\xa7ois \xc5\x92uvre"},
    };
    struct registry r;

    (void)state;
    load_ok("cp1252.csv", data, &r);
    assert_int_equal(r.n, 2);
    assert_str(r.v[0].name, "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale d'\xc3\x89xemple");
    check_aliases(&r.v[0], "SGE|Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale");
    assert_str(r.v[1].id, "line 3");
    assert_str(r.v[1].name, "Fran\xc3\xa7ois \xc5\x92uvre");
    assert_null(r.v[1].birth_date);
    run_matches(&r, cases, N_ELEMS(cases));
    registry_free(&r);
}

/* The first entry wins: in file order, and across the person and company keys. */
static void test_match_order(void **state)
{
    static const char data[] = "name,aliases\n"
                               "Alpha Corp,Beta\n"  /* line 2 */
                               "Beta,Gamma\n"       /* line 3: name = alias of line 2 */
                               "Corp Alpha,Delta\n" /* line 4: same key as line 2 */
                               "Ivan Petrov,\n"     /* line 5 */
                               "Omega,\n"           /* line 6 */
                               "\"-- ,\",'\n";      /* line 7: a name with an empty key */
    static const struct matchcase cases[] = {
        {"name key taken by the first", NULL, NULL, "alpha corp", "line 2", "Alpha Corp"},
        {"alias before a later name", NULL, NULL, "beta", "line 2", "Beta"},
        {"own alias", NULL, NULL, "gamma", "line 3", "Gamma"},
        {"later entry's alias", NULL, NULL, "delta", "line 4", "Delta"},
        {"company entry before person entry", "Ivan", "Petrov", "Gamma", "line 3", "Gamma"},
        {"person entry before company entry", "Petrov", "Ivan", "Omega", "line 5", "Ivan Petrov"},
        {"empty keys never match", "", "-", ",", NULL, NULL},
        {"nor do missing ones", NULL, NULL, NULL, NULL, NULL},
    };
    struct registry r;

    (void)state;
    load_ok("order.csv", data, &r);
    assert_int_equal(r.n, 6);
    assert_str(r.v[5].name, "-- ,");
    check_aliases(&r.v[5], "'");
    run_matches(&r, cases, N_ELEMS(cases));
    registry_free(&r);
}

/* Many entries: every one is found through the index, near misses are not. */
static void test_many(void **state)
{
    enum { N = 20000 };
    struct registry r;
    struct buf data, first, company;
    char *path;
    struct err e = {0};
    const char *which;
    int i;

    (void)state;
    buf_init(&data, 0);
    buf_init(&first, 0);
    buf_init(&company, 0);
    buf_adds(&data, "name;aliases\n");
    for (i = 0; i < N; i++)
        buf_printf(&data, "Person%d Name%d;Co %d\n", i, i * 7, i);
    path = write_file("many.csv", data.data, data.len);
    if (registry_load(path, &r, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(r.n, N);
    for (i = 0; i < N; i++) {
        buf_reset(&first);
        buf_reset(&company);
        buf_printf(&first, "NAME%d", i * 7);
        buf_printf(&company, "co-%d", i);
        if (registry_match(&r, buf_str(&first), NULL, NULL, NULL))
            fail_msg("half a name matched at %d", i);
        buf_printf(&first, " person%d", i);
        if (registry_match(&r, NULL, buf_str(&first), NULL, &which) != &r.v[i])
            fail_msg("name %d not found", i);
        if (registry_match(&r, "x", "y", buf_str(&company), &which) != &r.v[i] ||
            which != r.v[i].aliases[0])
            fail_msg("alias %d not found", i);
    }
    registry_free(&r);
    remove_file(path);
    buf_release(&data);
    buf_release(&first);
    buf_release(&company);
}

/* ---- bad input ---- */

struct errcase {
    const char *name; /* file name in the temporary folder */
    const char *data;
    int code;
    const char *msg; /* exact; "%s" stands for the path */
};

/* clang-format off */
static const struct errcase err_cases[] = {
    {"broken.json", "{\n  \"Publications\": {\n    \"DatePublication\": \"x\",\n  }\n}\n",
     ERR_INPUT, "%s:4:3: not valid JSON: string or '}' expected near '}'"},
    {"bom-blank-lines.json", "\xef\xbb\xbf\r\n\n  {\"Publications\": [,]}", ERR_INPUT,
     "%s:3:21: not valid JSON: unexpected token near ','"},
    {"trailing.json", "{\"Publications\": {}} x", ERR_INPUT,
     "%s:1:22: not valid JSON: end of file expected near 'x'"},
    {"no-detail.json", "{\"Publications\": {\"DatePublication\": \"2026-01-01\"}}", ERR_INPUT,
     "%s: no Publications.PublicationDetail array"},
    {"detail-object.json", "{\"Publications\": {\"PublicationDetail\": {}}}", ERR_INPUT,
     "%s: no Publications.PublicationDetail array"},
    {"no-publications.json", "{\"PublicationDetail\": []}", ERR_INPUT,
     "%s: no Publications.PublicationDetail array"},
    {"no-nom.json",
     "{\"Publications\": {\"PublicationDetail\": [{\"IdRegistre\": 1, \"Nom\": \"A\"},\n"
     "{\"IdRegistre\": 77, \"Nature\": \"Personne physique\", \"RegistreDetail\": []}]}}",
     ERR_INPUT, "%s: entry 2 (IdRegistre 77): no Nom"},
    {"blank-nom.json",
     "{\"Publications\": {\"PublicationDetail\": [{\"IdRegistre\": \"X-12\", \"Nom\": \" \"}]}}",
     ERR_INPUT, "%s: entry 1 (IdRegistre X-12): no Nom"},
    {"number-nom.json",
     "{\"Publications\": {\"PublicationDetail\": [{\"IdRegistre\": 3, \"Nom\": 3}]}}",
     ERR_INPUT, "%s: entry 1 (IdRegistre 3): no Nom"},
    {"no-id-no-nom.json", "{\"Publications\": {\"PublicationDetail\": [{\"Nature\": \"Navire\"}]}}",
     ERR_INPUT, "%s: entry 1: no Nom"},
    {"not-object.json", "{\"Publications\": {\"PublicationDetail\": [{\"Nom\": \"A\"}, [1]]}}",
     ERR_INPUT, "%s: entry 2: not an object"},
    {"bad-utf8.json", "{\"Publications\": {\"PublicationDetail\": [{\"Nom\": \"\xe9\"}]}}",
     ERR_INPUT, "%s:1:49: not valid JSON: unable to decode byte 0xe9 near '\"'"},
    {"no-name.csv", "nom;birth_date\nX;\n", ERR_INPUT, "%s:1: missing column 'name'"},
    {"no-name-late.csv", "\n\nfull_name,aliases\nX,\n", ERR_INPUT, "%s:3: missing column 'name'"},
    {"name-twice.csv", "name,NAME\nX,Y\n", ERR_INPUT, "%s:1: column 'name' appears twice"},
    {"empty-name.csv", "name,aliases\nA,\n,B\n", ERR_INPUT, "%s:3: field 'name': empty"},
    {"blank-name.csv", "aliases;name\nB;\"A\nA\"\nC;\" \t\"\n", ERR_INPUT,
     "%s:4: field 'name': empty"},
    {"short-row.csv", "birth_date,name\n1961-01-01\n", ERR_INPUT, "%s:2: field 'name': empty"},
    {"bad-date.csv", "name,birth_date\nA,1961-02-29\n", ERR_INPUT,
     "%s:2: field 'birth_date': '1961-02-29' is not a date (YYYY-MM-DD, YYYY-MM or YYYY)"},
    {"french-date.csv", "name,birth_date\n\"A\nB\",\nC,12/03/1961\n", ERR_INPUT,
     "%s:4: field 'birth_date': '12/03/1961' is not a date (YYYY-MM-DD, YYYY-MM or YYYY)"},
    {"short-date.csv", "name;birth_date\nA;1961-3-12\n", ERR_INPUT,
     "%s:2: field 'birth_date': '1961-3-12' is not a date (YYYY-MM-DD, YYYY-MM or YYYY)"},
    {"month-13.csv", "name;birth_date\nA;1961-13\n", ERR_INPUT,
     "%s:2: field 'birth_date': '1961-13' is not a date (YYYY-MM-DD, YYYY-MM or YYYY)"},
    {"year-0.csv", "name;birth_date\nA;0000\n", ERR_INPUT,
     "%s:2: field 'birth_date': '0000' is not a date (YYYY-MM-DD, YYYY-MM or YYYY)"},
    {"quotes.csv", "name\n\"A\"x\n", ERR_INPUT, "%s:2: malformed quoted field"},
    {"empty.csv", "", ERR_INPUT, "%s: empty file, no header line"},
};
/* clang-format on */

static void test_errors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(err_cases); i++) {
        const struct errcase *c = &err_cases[i];
        char *path = write_file(c->name, c->data, 0);
        struct registry r = {.n = 99};
        struct err e = {0};
        struct buf want;
        int rc = registry_load(path, &r, &e);

        buf_init(&want, 0);
        buf_printf(&want, c->msg, path);
        if (rc != c->code || e.code != c->code)
            fail_msg("%s: code %d, %d: %s", c->name, rc, e.code, e.msg);
        if (strcmp(e.msg, buf_str(&want)))
            fail_msg("%s: message '%s'\n   want '%s'", c->name, e.msg, buf_str(&want));
        assert_null(r.v);
        assert_int_equal(r.n, 0);
        assert_null(r.published);
        assert_null(registry_match(&r, "A", "B", "A", NULL));
        registry_free(&r);
        buf_release(&want);
        remove_file(path);
    }
}

static void test_io_errors(void **state)
{
    struct registry r;
    struct err e = {0};
    struct buf want;

    (void)state;
    assert_int_equal(registry_load("/nonexistent/registre.json", &r, &e), ERR_IO);
    assert_str(e.msg, "/nonexistent/registre.json: No such file or directory");
    assert_null(r.v);
    assert_int_equal(registry_load(tmpdir, &r, &e), ERR_IO);
    buf_init(&want, 0);
    buf_printf(&want, "%s: Is a directory", tmpdir);
    assert_str(e.msg, buf_str(&want));
    assert_null(r.v);
    buf_release(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),          cmocka_unit_test(test_sample_load),
        cmocka_unit_test(test_sample_match), cmocka_unit_test(test_json_variants),
        cmocka_unit_test(test_json_empty),   cmocka_unit_test(test_csv_utf8),
        cmocka_unit_test(test_csv_cp1252),   cmocka_unit_test(test_match_order),
        cmocka_unit_test(test_many),         cmocka_unit_test(test_errors),
        cmocka_unit_test(test_io_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
