/* tls — the certificate and key spawnd serves over TLS (--tls-cert, --tls-key).
 *
 * libmicrohttpd does the TLS itself (GnuTLS); this module loads the PEM
 * files, checks they belong together, and hands the current pair to each
 * handshake through libmicrohttpd's certificate callback, so a SIGHUP can
 * swap in new files without restarting the daemon or dropping connections.
 *
 * Threads: tls_init() at startup, tls_reload() from the signal thread,
 * the callback on libmicrohttpd's threads. A pair that was replaced is kept
 * until tls_release() (a handshake may still be using it); reloads are rare.
 */
#ifndef SPAWND_TLS_H
#define SPAWND_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* The protocol versions offered: TLS 1.2 and 1.3 only (GnuTLS priority string). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Loads cert_file (a PEM chain, the server's certificate first) and key_file.
 * Both NULL: TLS off (0). One without the other, an unreadable file, a file
 * that is not PEM, or a key that does not match the certificate: -1 with a
 * message naming the flag and the file in err. */
int tls_init(const char *cert_file, const char *key_file, char *err, size_t cap);

/* True once tls_init() loaded a pair. */
bool tls_enabled(void);

/* Re-reads the same files (SIGHUP). On any error the current pair stays and
 * the error is logged; new handshakes get the new pair at once. */
int tls_reload(void);

/* The gnutls_certificate_retrieve_function2 for MHD_OPTION_HTTPS_CERT_CALLBACK
 * (typed void * so this header needs no GnuTLS header). */
void *tls_cert_callback(void);

/* Frees every pair (after the HTTP daemon has stopped). */
void tls_release(void);

#endif
