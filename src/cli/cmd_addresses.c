/* `postier addresses add|list|import`: a party's sites, each with its own
 * site contact (seed 002 level 2). */
#include "cli.h"

static int addresses_add(struct cli *c, int argc, char **argv)
{
    return cli_rec_add(c, STORE_ADDRESS, "addresses add", argc, argv);
}

static int addresses_import(struct cli *c, int argc, char **argv)
{
    return cli_rec_import(c, STORE_ADDRESS, "addresses import", argc, argv);
}

static int addresses_list(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_LIST_LONGOPTS, {"party", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    struct store_query q = {0};
    struct cli_list l;
    int opt, rc;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'p')
            q.party_ref = optarg;
        else if ((rc = cli_list_opt(&l, "addresses list", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("addresses list", "bad option");
    }
    if ((rc = cli_open_store(c)))
        return rc;
    return cli_rec_list(c, STORE_ADDRESS, &q, &l, "addresses");
}

static const struct cli_cmd subs[] = {
    {"add", addresses_add, "add or update a party's address (site)",
     "Usage: postier addresses add --party REF --label LABEL [OPTIONS]\n\n"
     "Adds a site to a party, or updates the party's site with that label.\n\n"
     "Options: --party --label --lines --postcode --city --country --contact-name\n"
     "         --contact-email --contact-phone\n"},
    {"list", addresses_list, "list addresses",
     "Usage: postier addresses list [--party REF] [--format table|csv|json]\n\n" CLI_LIST_HELP},
    {"import", addresses_import, "import addresses from CSV (all-or-nothing)",
     "Usage: postier addresses import FILE [--dry-run]\n\n"
     "Columns: party_ref,label,lines,postcode,city,country,contact_name,contact_email,\n"
     "contact_phone.  A row for an existing party ref and label updates that site.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_addresses(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "addresses", subs, argc, argv);
}
