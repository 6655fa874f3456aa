/* Global options, the command table and dispatch (kmod tools/kmod.c
 * style), plus the helpers every command shares: config and database
 * opening, error-to-exit-status mapping, listing and record options. */
#include "cli.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "run/run.h"
#include "template/template.h"
#include "util/date.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "text/text.h"
#include "util/xalloc.h"

#define DEFAULT_CONFIG "config/postier.ini"

static const struct cli_cmd commands[] = {
    {"init", cmd_init, "create the database, the spool folders and a default config", NULL},
    {"types", cmd_types, "contact types: add, list, edit, rm", NULL},
    {"parties", cmd_parties, "parties (clients, suppliers, claims...): add, list, show, import",
     NULL},
    {"addresses", cmd_addresses, "parties' addresses (sites): add, list, import", NULL},
    {"contacts", cmd_contacts,
     "contacts: add, edit, show, list, rm, end, import, export, dupes, merge", NULL},
    {"documents", cmd_documents, "documents to notify: import, list", NULL},
    {"templates", cmd_templates, "message templates: list, check, preview", NULL},
    {"run", cmd_run, "the nightly job: resolve, render, spool, deliver", NULL},
    {"retry", cmd_retry, "send again the failed messages once their cause is fixed", NULL},
    {"history", cmd_history, "the hash-chained history: list, show, export, verify, purge", NULL},
    {"campaign", cmd_campaign, "mail-merge campaigns: new, preview, test, launch, pause...", NULL},
    {"registry", cmd_registry, "the asset-freeze register: load FILE, check", NULL},
    {"unsubscribe", cmd_unsubscribe, "the suppression list: unsubscribe ADDRESS|TOKEN, --list",
     NULL},
    {"demo", cmd_demo, "build a demo book in a folder and run the nightly job on it", NULL},
    {NULL, NULL, NULL, NULL},
};

static void main_help(FILE *f)
{
    const struct cli_cmd *cmd;

    fputs("Usage: postier [--config FILE] [--db FILE] [--operator NAME] COMMAND [ARGS...]\n\n"
          "postier decides who must receive each business document, merges it into a\n"
          "template and sends it by e-mail or SMS, keeping a tamper-evident history.\n\n"
          "Global options:\n"
          "  -c, --config FILE  configuration (default config/postier.ini, or $POSTIER_CONFIG)\n"
          "  -d, --db FILE      database file, overriding [store] database\n"
          "  --operator NAME    who acts, in the history (default: the OS user)\n"
          "  -h, --help         this help; COMMAND --help for a command's help\n"
          "  -V, --version      print the version\n\n"
          "Commands:\n",
          f);
    for (cmd = commands; cmd->name; cmd++)
        fprintf(f, "  %-10s %s\n", cmd->name, cmd->summary);
    fputs("\nExit status: 0 ok, 1 partial failure, 2 usage, configuration or input error,\n"
          "75 temporary failure (deferred: try again later).\n",
          f);
}

int cli_status(int code)
{
    switch (code) {
    case ERR_OK: return 0;
    case ERR_INPUT:
    case ERR_NOTFOUND:
    case ERR_EXISTS:
    case ERR_INUSE:
    case ERR_CONFIG:
    case ERR_TOOBIG:
    case ERR_IO: return EXIT_USAGE;
    case ERR_TEMPFAIL: /* unreachable server, stopped by a signal */
    case ERR_LOCKED: return EXIT_TEMPFAIL; /* another run: try again later */
    default: return EXIT_PARTIAL;
    }
}

int cli_install_templates(const char *dest, int *copied, struct err *e)
{
    static const char *const roots[] = {POSTIER_TEMPLATES_SHARE, POSTIER_TEMPLATES_SRC};

    return tmpl_install(roots, 2, dest, copied, e);
}

int cli_fail(const struct err *e)
{
    cli_print_one_line(stderr, "postier: ", e->msg[0] ? e->msg : err_name(e->code));
    return cli_status(e->code);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("postier: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'postier %s --help'.\n", cmd);
    return EXIT_USAGE;
}

int cli_wants_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    }
    return 0;
}

int cli_load_config(struct cli *c)
{
    struct err e;
    int explicit = c->config_path != NULL;

    if (c->cfg)
        return 0;
    if (!c->config_path)
        c->config_path = getenv("POSTIER_CONFIG");
    if (c->config_path && *c->config_path)
        explicit = 1;
    else
        c->config_path = DEFAULT_CONFIG;
    /* no silent empty installation: a command run in the wrong folder
     * must not create ./postier.db and report success */
    if (!explicit && access(DEFAULT_CONFIG, F_OK) != 0) {
        err_set(&e, ERR_CONFIG, "no configuration: run 'postier init' or pass --config");
        return cli_fail(&e);
    }
    if (config_load(c->config_path, 1, &c->cfg, &e) || run_check_config(c->cfg, &e))
        return cli_fail(&e);
    if (config_secret_exposed(c->cfg))
        fprintf(stderr,
                "postier: warning: %s holds a password and is readable by others "
                "(chmod 600 %s)\n",
                c->config_path, c->config_path);
    if (c->db_path) {
        c->config_db = c->cfg->database;
        c->cfg->database = xstrdup(c->db_path);
    }
    /* before any thread starts (date_use_zone sets TZ) */
    date_use_zone(c->cfg->run_timezone);
    return 0;
}

int cli_open_store(struct cli *c)
{
    struct buf head;
    struct err e;
    int rc = cli_load_config(c);

    if (rc || c->store)
        return rc;
    if (store_open(c->cfg->database, &c->store, &e))
        return cli_fail(&e);
    buf_init(&head, 0);
    audit_head_path(c->cfg->spool, c->cfg->database,
                    c->config_db ? c->config_db : c->cfg->database, &head);
    audit_configure(c->store, c->cfg->history_key_file, buf_str(&head));
    buf_release(&head);
    /* the key (with its marker and the head file) is made here, once, for
     * any command but the read-only checks: an installation upgraded
     * without `init` gets it from its next cron run.  A lost or replaced
     * key stops the command here, before it writes anything (verify and
     * anchor report it themselves) */
    if (!c->no_key && audit_key_ensure(c->store, &c->key_created, &e))
        return cli_fail(&e);
    return 0;
}

int cli_dispatch(struct cli *c, const char *group, const struct cli_cmd *cmds, int argc,
                 char **argv)
{
    const struct cli_cmd *cmd;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "Usage: postier %s SUBCOMMAND [OPTIONS]\n\nSubcommands:\n", group);
        for (cmd = cmds; cmd->name; cmd++)
            fprintf(f, "  %-8s %s\n", cmd->name, cmd->summary);
        fprintf(f, "\n'postier %s SUBCOMMAND --help' describes each one.\n", group);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    for (cmd = cmds; cmd->name; cmd++) {
        if (strcmp(cmd->name, argv[1]))
            continue;
        if (cli_wants_help(argc - 1, argv + 1)) {
            if (cmd->usage)
                fputs(cmd->usage, stdout);
            else
                printf("Usage: postier %s %s ...\n\n%s.\n", group, cmd->name, cmd->summary);
            return 0;
        }
        return cmd->run(c, argc - 1, argv + 1);
    }
    return cli_usage(group, "unknown %s subcommand '%s'", group, argv[1]);
}

/* Command-line input is text like any other: valid UTF-8 or refused (a
 * Windows-1252 shell or script would otherwise store mojibake).  Returns 0
 * or EXIT_USAGE after saying which argument. */
static int check_utf8_args(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (!text_utf8_valid(argv[i], strlen(argv[i]))) {
            fprintf(stderr, "postier: argument %d '%s' is not valid UTF-8\n", i, argv[i]);
            return EXIT_USAGE;
        }
    }
    return 0;
}

int cli_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {"operator", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli c = {0};
    const struct cli_cmd *cmd;
    const char *operator_name = NULL;
    struct passwd *pw;
    struct err e;
    int opt, rc;

    cli_term_init(); /* every byte printed from here on is filtered */
    /* every file postier makes is private, whatever the caller's umask: the
     * database, its WAL, the config, the spool and the Maildir hold personal
     * data and passwords (exports too: personal data) */
    umask(077);
    if (check_utf8_args(argc, argv))
        return EXIT_USAGE;
    while ((opt = getopt_long(argc, argv, "+c:d:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': c.config_path = optarg; break;
        case 'd': c.db_path = optarg; break;
        case 'o':
            if (!*optarg || strpbrk(optarg, "\r\n") || strlen(optarg) > 100)
                return cli_usage("", "--operator: a name of 1 to 100 characters on one line");
            operator_name = optarg;
            break;
        case 'h': main_help(stdout); return 0;
        case 'V': puts("postier 0.1.0"); return 0;
        default: main_help(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    for (cmd = commands; cmd->name; cmd++)
        if (!strcmp(cmd->name, argv[optind]))
            break;
    if (!cmd->name)
        return cli_usage("", "unknown command '%s'", argv[optind]);
    /* who acts, recorded in every history row: --operator (the shipped cron
     * and systemd units say `cron`), else the OS user */
    if (!operator_name && (pw = getpwuid(getuid())))
        operator_name = pw->pw_name;
    audit_set_operator(operator_name);
    argc -= optind;
    argv += optind;
    optind = 0; /* re-initialise getopt: each command parses its own argv */
    /* the configuration first (init and demo write theirs): its time zone
     * is every command's "today", even one computed before the store opens */
    rc = 0;
    if (strcmp(cmd->name, "init") && strcmp(cmd->name, "demo") && !cli_wants_help(argc, argv))
        rc = cli_load_config(&c);
    if (!rc)
        rc = cmd->run(&c, argc, argv);
    /* the head file follows every command that appended history; the
     * command itself succeeded: a head left behind is a warning (verify
     * reports it), an I/O error exit 2 */
    if (c.store && audit_head_update(c.store, &e)) {
        if (e.code == ERR_PERMFAIL) {
            cli_print_one_line(stderr, "postier: warning: ", e.msg);
        } else {
            cli_print_one_line(stderr, "postier: error: ", e.msg);
            rc = rc ? rc : cli_status(e.code);
        }
    }
    store_close(c.store);
    config_free(c.cfg);
    free(c.config_db);
    if (fflush(stdout) == EOF && !rc) {
        fprintf(stderr, "postier: writing output: %s\n", strerror(errno));
        rc = EXIT_PARTIAL;
    }
    if (cli_term_done() && !rc)
        rc = EXIT_PARTIAL;
    return rc;
}
