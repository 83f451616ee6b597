/* suspender — see suspender.h. */
#include "server/suspender.h"

void suspender_init(struct suspender *s, struct MHD_Connection *conn)
{
	pthread_mutex_init(&s->lock, NULL);
	s->conn = conn;
	s->suspended = s->woken = false;
}

void suspender_release(struct suspender *s)
{
	pthread_mutex_destroy(&s->lock);
}

void suspender_suspend_locked(struct suspender *s)
{
	s->suspended = true;
	MHD_suspend_connection(s->conn);
}

void suspender_wake(struct suspender *s)
{
	/* Resume only after unlocking: once resumed, libmicrohttpd may finish
	 * the connection and free s (its lock included) at once. Until then the
	 * connection stays suspended, so conn is valid, and only the one waker
	 * that saw it suspended resumes it. */
	pthread_mutex_lock(&s->lock);
	struct MHD_Connection *resume = s->suspended ? s->conn : NULL;
	if (resume)
		s->suspended = false;
	else
		s->woken = true;
	pthread_mutex_unlock(&s->lock);
	if (resume)
		MHD_resume_connection(resume);
}
