/* `postier init`: the default configuration if missing, the database at the
 * current schema version, the spool folders and the shipped templates.
 * Safe to run again. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "audit/audit.h"
#include "util/buf.h"

static const char usage[] =
    "Usage: postier [--config FILE] [--db FILE] init\n\n"
    "Creates, when missing: the configuration file (every key of the [store],\n"
    "[sender], [email], [smtp], [sms] and [run] sections, commented, with its\n"
    "default), the SQLite database (migrated to the current schema) and the\n"
    "spool folders (tmp, queue, sent), the history key ([history] key_file,\n"
    "64 random hex digits, mode 0600; never replaced once the chain is keyed);\n"
    "the shipped templates are copied into the\n"
    "[store] templates folder when it is missing or empty.  Running it again\n"
    "changes nothing that exists; an older database is migrated forward.\n";

static int make_dir(const char *path, struct err *e)
{
    if (mkdir(path, 0700) && errno != EEXIST)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

/* Creates each folder of path in turn (mkdir -p). */
static int make_dirs(const char *path, struct err *e)
{
    struct buf b;
    const char *p;
    int rc = 0;

    buf_init(&b, 0);
    for (p = path; *p && !rc; p++) {
        if (*p == '/' && p != path)
            rc = make_dir(buf_str(&b), e);
        buf_addc(&b, *p);
    }
    if (!rc)
        rc = make_dir(buf_str(&b), e);
    buf_release(&b);
    return rc;
}

int cmd_init(struct cli *c, int argc, char **argv)
{
    static const char *const sub[] = {"tmp", "queue", "sent"};
    struct err e;
    struct buf path;
    size_t i;
    int rc, created = 0, copied = 0, created_key = 0;

    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 1)
        return cli_usage("init", "unexpected argument '%s'", argv[1]);
    if (!c->config_path)
        c->config_path = getenv("POSTIER_CONFIG");
    if (!c->config_path || !*c->config_path)
        c->config_path = "config/postier.ini";
    rc = config_write_default(c->config_path, &e);
    if (rc && rc != ERR_EXISTS)
        return cli_fail(&e);
    created = !rc;
    if ((rc = cli_load_config(c)))
        return rc;
    buf_init(&path, 0);
    for (i = 0; i < sizeof sub / sizeof sub[0] && !rc; i++) {
        buf_reset(&path);
        buf_printf(&path, "%s/%s", c->cfg->spool, sub[i]);
        rc = make_dirs(buf_str(&path), &e);
    }
    if (!rc && !strcmp(c->cfg->email_transport, "maildir")) {
        for (i = 0; i < 3 && !rc; i++) {
            static const char *const md[] = {"tmp", "new", "cur"};
            buf_reset(&path);
            buf_printf(&path, "%s/%s", c->cfg->email_maildir, md[i]);
            rc = make_dirs(buf_str(&path), &e);
        }
    }
    buf_release(&path);
    if (!rc)
        rc = cli_install_templates(c->cfg->templates, &copied, &e);
    if (rc)
        return cli_fail(&e);
    if ((rc = cli_open_store(c))) /* makes the key, or stops on a lost one */
        return rc;
    created_key = c->key_created;
    printf("config:   %s%s\n", c->config_path, created ? " (created)" : "");
    printf("database: %s (schema version %d)\n", c->cfg->database,
           store_schema_version(c->store));
    printf("spool:    %s\n", c->cfg->spool);
    printf("history key: %s%s\n", c->cfg->history_key_file, created_key ? " (created)" : "");
    if (copied)
        printf("templates: %s (%d shipped files copied)\n", c->cfg->templates, copied);
    else
        printf("templates: %s (not empty: kept as it is, nothing copied)\n",
               c->cfg->templates);
    return 0;
}
