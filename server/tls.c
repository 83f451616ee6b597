/* tls — see tls.h.
 *
 * Why a certificate callback instead of MHD_OPTION_HTTPS_MEM_CERT: the
 * memory options are read once, when the daemon starts, and restarting the
 * daemon on SIGHUP would close every open stream and race new connections
 * against the listening socket changing hands. The callback is asked at
 * every handshake, so a reload is one pointer swap under a lock.
 *
 * Why old pairs are kept until the end: the callback gives GnuTLS pointers
 * into a pair, which it uses for the rest of that handshake; nothing says
 * when that is over. A reload costs a few KiB, and SIGHUPs are few.
 *
 * The files are checked the way GnuTLS itself would use them: the key is
 * matched against the certificate (gnutls_certificate_set_x509_key_mem()
 * refuses a mismatch), so a wrong pair fails at startup or at the reload,
 * not at the first client's handshake. Messages name the flags and files,
 * never the key's contents.
 */
#define _GNU_SOURCE
#include "server/tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

#include "lib/log.h"

#define TLS_FILE_MAX (1 << 20)
#define TLS_CHAIN_MAX 8

struct tls_pair {
	gnutls_pcert_st chain[TLS_CHAIN_MAX];
	unsigned chain_len;
	gnutls_privkey_t key;
	struct tls_pair *older;          /* replaced pairs, freed by tls_release() */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_pair *current;
static char *cert_path, *key_path;

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* The whole file as a GnuTLS datum (malloc'ed, NUL-terminated). */
static int read_pem(const char *flag, const char *path, gnutls_datum_t *out, char *err, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return fail(err, cap, "%s %s: %s", flag, path, strerror(errno));
	unsigned char *buf = malloc(TLS_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, TLS_FILE_MAX + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad || n == 0 || n > TLS_FILE_MAX) {
		free(buf);
		return fail(err, cap, "%s %s: %s", flag, path,
			    !buf ? "out of memory" : bad ? "cannot be read" : n == 0 ? "empty file" : "larger than 1 MiB");
	}
	buf[n] = '\0';
	out->data = buf;
	out->size = (unsigned)n;
	return 0;
}

static void pair_free(struct tls_pair *p)
{
	while (p) {
		struct tls_pair *older = p->older;
		for (unsigned i = 0; i < p->chain_len; i++)
			gnutls_pcert_deinit(&p->chain[i]);
		if (p->key)
			gnutls_privkey_deinit(p->key);
		free(p);
		p = older;
	}
}

/* The key belongs to the certificate: GnuTLS's own check. */
static int check_match(gnutls_datum_t *cert, gnutls_datum_t *key, char *err, size_t cap)
{
	gnutls_certificate_credentials_t cred;
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return fail(err, cap, "TLS: out of memory");
	int g = gnutls_certificate_set_x509_key_mem(cred, cert, key, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (g == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		return fail(err, cap, "--tls-key %s does not belong to the certificate of --tls-cert %s",
			    key_path, cert_path);
	if (g < 0)
		return fail(err, cap, "--tls-cert %s with --tls-key %s: %s", cert_path, key_path, gnutls_strerror(g));
	return 0;
}

static int import_pair(struct tls_pair *p, gnutls_datum_t *cert, gnutls_datum_t *key, char *err, size_t cap)
{
	p->chain_len = TLS_CHAIN_MAX;
	int g = gnutls_pcert_list_import_x509_raw(p->chain, &p->chain_len, cert, GNUTLS_X509_FMT_PEM, 0);
	if (g < 0) {
		p->chain_len = 0;
		return fail(err, cap, "--tls-cert %s: not a PEM certificate chain of at most %d certificates (%s)",
			    cert_path, TLS_CHAIN_MAX, gnutls_strerror(g));
	}
	if ((g = gnutls_privkey_init(&p->key)) < 0)
		return fail(err, cap, "TLS: %s", gnutls_strerror(g));
	if ((g = gnutls_privkey_import_x509_raw(p->key, key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
		return fail(err, cap, "--tls-key %s: not an unencrypted PEM private key (%s)", key_path,
			    gnutls_strerror(g));
	return check_match(cert, key, err, cap);
}

/* A new pair from the files, or NULL with err. */
static struct tls_pair *load_pair(char *err, size_t cap)
{
	gnutls_datum_t cert = { NULL, 0 }, key = { NULL, 0 };
	struct tls_pair *p = NULL;
	if (read_pem("--tls-cert", cert_path, &cert, err, cap) < 0 ||
	    read_pem("--tls-key", key_path, &key, err, cap) < 0)
		goto out;
	if (!(p = calloc(1, sizeof *p))) {
		fail(err, cap, "TLS: out of memory");
		goto out;
	}
	if (import_pair(p, &cert, &key, err, cap) < 0) {
		pair_free(p);
		p = NULL;
	}
out:
	if (key.data)
		explicit_bzero(key.data, key.size);   /* the key lives on in GnuTLS's copy only */
	free(key.data);
	free(cert.data);
	return p;
}

int tls_init(const char *cert_file, const char *key_file, char *err, size_t cap)
{
	if (!cert_file && !key_file)
		return 0;
	if (!cert_file || !key_file)
		return fail(err, cap, "%s needs %s too", cert_file ? "--tls-cert" : "--tls-key",
			    cert_file ? "--tls-key" : "--tls-cert");
	if (!(cert_path = strdup(cert_file)) || !(key_path = strdup(key_file)))
		return fail(err, cap, "TLS: out of memory");
	if (!(current = load_pair(err, cap)))
		return -1;
	return 0;
}

bool tls_enabled(void)
{
	return current != NULL;
}

int tls_reload(void)
{
	char err[1024];
	if (!current)
		return 0;
	struct tls_pair *p = load_pair(err, sizeof err);
	if (!p) {
		log_event(LOG_ERROR, "TLS certificate reload failed; the current one stays", "error=\"%s\"", err);
		return -1;
	}
	pthread_mutex_lock(&lock);
	p->older = current;
	current = p;
	pthread_mutex_unlock(&lock);
	log_event(LOG_INFO, "TLS certificate reloaded", "cert=\"%s\"", cert_path);
	return 0;
}

static int on_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
		       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
		       unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	pthread_mutex_lock(&lock);
	struct tls_pair *p = current;
	pthread_mutex_unlock(&lock);
	if (!p)
		return -1;
	*pcert = p->chain;
	*pcert_length = p->chain_len;
	*privkey = p->key;
	return 0;
}

void *tls_cert_callback(void)
{
	static gnutls_certificate_retrieve_function2 *const cb = on_retrieve;
	return (void *)(uintptr_t)cb;
}

void tls_release(void)
{
	pthread_mutex_lock(&lock);
	pair_free(current);
	current = NULL;
	pthread_mutex_unlock(&lock);
	free(cert_path);
	free(key_path);
	cert_path = key_path = NULL;
}
