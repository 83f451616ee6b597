/* session — POST /session (a token for a session cookie), GET /session (who
 * the browser is: role, whether tokens are on, expiry) and DELETE /session
 * (log out). All three are public routes: they are how one gets in, and they
 * check what they are given themselves. */
#ifndef SPAWND_HANDLERS_SESSION_H
#define SPAWND_HANDLERS_SESSION_H

#include "server/http.h"

enum MHD_Result session_post(struct http_req *r);
enum MHD_Result session_get(struct http_req *r);
enum MHD_Result session_delete(struct http_req *r);

#endif
