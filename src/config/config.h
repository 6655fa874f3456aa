/* The INI configuration of SPEC §8 (the only libinih user): defaults for
 * every key, loading with validation (unknown section or key, bad value ->
 * ERR_CONFIG naming file, line and key), resolution of relative paths
 * against the parent of the config file's folder, and the commented default
 * file that `postier init` writes. */
#ifndef POSTIER_CONFIG_H
#define POSTIER_CONFIG_H

#include "util/err.h"

struct config {
    char *path; /* the config file path as given (may not exist) */
    char *base; /* absolute folder relative paths resolve against */
    int *key_lines; /* private: see config_key_line */
    /* [store]: absolute after load */
    char *database, *spool, *templates;
    char *documents; /* relative `attachment` paths are read from here */
    /* [sender] */
    char *sender_name, *sender_email;
    /* [email] */
    char *email_transport, *email_maildir; /* maildir absolute */
    /* [smtp] */
    char *smtp_url, *smtp_username, *smtp_password, *smtp_starttls, *smtp_ca_file;
    long smtp_connections, smtp_rate_per_second, smtp_rate_per_hour, smtp_timeout,
        smtp_max_attempts;
    long smtp_verify, smtp_allow_plaintext_auth; /* yes|no as 1|0 */
    /* [sms] */
    char *sms_transport, *sms_url, *sms_token, *sms_sender, *sms_quiet_hours, *sms_quiet_days;
    char *sms_username, *sms_password, *sms_dlr_url, *sms_stop_text;
    long sms_dlr_mask, sms_max_segments, sms_connections, sms_timeout, sms_max_attempts;
    long sms_allow_plaintext_auth; /* yes|no as 1|0 */
    /* [campaign] */
    char *campaign_unsubscribe_url, *campaign_unsubscribe_mailto;
    /* [run] */
    char *run_fallback, *run_sms_types;
    char *run_timezone; /* IANA name, checked at load; "" = the system's */
    /* [template] */
    long template_max_iterations; /* loop iterations per message */
    /* [history] */
    char *history_key_file; /* absolute after load */
    long history_retention_min_days;
};

/* Loads path (or the defaults alone when the file does not exist and
 * must_exist is 0).  *out is owned by the caller (config_free).  Errors:
 * ERR_CONFIG with "file:line: ..." for a bad key or value, ERR_IO when the
 * file exists but cannot be read or must_exist and it is missing. */
int config_load(const char *path, int must_exist, struct config **out, struct err *e);

/* Frees c; NULL-safe. */
void config_free(struct config *c);

/* Writes the default configuration, every key present and commented, to
 * path (creating its folder); fails with ERR_EXISTS if path exists. */
int config_write_default(const char *path, struct err *e);

/* The line of c's file that set [section] name, 0 when the key kept its
 * default (or is unknown): for errors found after loading. */
int config_key_line(const struct config *c, const char *section, const char *name);

/* 1 when c's file holds a password or token ([smtp] password, [sms]
 * password or token) and its group or others may read it, else 0. */
int config_secret_exposed(const struct config *c);

/* Makes path absolute against base unless it already is (caller frees). */
char *config_resolve(const char *base, const char *path);

#endif
