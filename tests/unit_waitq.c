/* Unit tests of engine/waitq: FIFO order, cancel, deadlines, wake n, and
 * re-arming from a callback. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/waitq.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

struct waiter {
	struct waitq_entry e;
	int id;
};

static int order[16], nfired;

static void fired(struct waitq_entry *e)
{
	struct waiter *w = (struct waiter *)e;  /* e is the first member */
	if (nfired < 16)
		order[nfired] = w->id;
	nfired++;
}

static void setup(struct waiter *w, int n)
{
	memset(w, 0, sizeof *w * (size_t)n);
	for (int i = 0; i < n; i++)
		w[i].id = i;
	nfired = 0;
}

static void wakes_in_arrival_order(void)
{
	struct waitq q = WAITQ_INIT;
	struct waitq_batch b = { NULL, NULL };
	struct waiter w[5];
	setup(w, 5);
	for (int i = 0; i < 5; i++)
		waitq_arm(&q, &w[i].e, 0, 0, fired);
	CHECK(waitq_armed(&w[3].e));
	CHECK_INT(waitq_wake(&q, SIZE_MAX, &b), 5);
	CHECK(waitq_empty(&q));
	CHECK(!waitq_armed(&w[3].e));
	CHECK_INT(nfired, 0);           /* nothing runs until the batch is fired */
	waitq_fire(&b);
	CHECK_INT(nfired, 5);
	for (int i = 0; i < 5; i++)
		CHECK_INT(order[i], i);
}

static void wakes_exactly_n_oldest(void)
{
	struct waitq q = WAITQ_INIT;
	struct waitq_batch b = { NULL, NULL };
	struct waiter w[6];
	setup(w, 6);
	for (int i = 0; i < 6; i++)
		waitq_arm(&q, &w[i].e, 0, 0, fired);
	CHECK_INT(waitq_wake(&q, 2, &b), 2);
	CHECK_INT(waitq_wake(&q, 1, &b), 1);
	waitq_fire(&b);
	CHECK_INT(nfired, 3);
	CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2);
	CHECK(waitq_armed(&w[3].e) && waitq_armed(&w[5].e));
	CHECK_INT(waitq_wake(&q, 10, &b), 3);   /* fewer than asked: all there are */
	CHECK_INT(waitq_wake(&q, 1, &b), 0);
	waitq_fire(&b);
	CHECK_INT(nfired, 6);
	CHECK(order[3] == 3 && order[5] == 5);
}

static void cancelled_entries_never_fire(void)
{
	struct waitq q = WAITQ_INIT;
	struct waitq_batch b = { NULL, NULL };
	struct waiter w[4];
	setup(w, 4);
	for (int i = 0; i < 4; i++)
		waitq_arm(&q, &w[i].e, 0, 0, fired);
	waitq_cancel(&w[0].e);          /* head */
	waitq_cancel(&w[2].e);          /* middle */
	waitq_cancel(&w[3].e);          /* tail */
	waitq_cancel(&w[3].e);          /* twice: nothing */
	CHECK(!waitq_armed(&w[2].e));
	waitq_arm(&q, &w[0].e, 0, 0, fired);    /* armed again: now the newest */
	CHECK_INT(waitq_wake(&q, SIZE_MAX, &b), 2);
	waitq_fire(&b);
	CHECK_INT(nfired, 2);
	CHECK(order[0] == 1 && order[1] == 0);
}

static void arming_twice_moves_the_entry(void)
{
	struct waitq q = WAITQ_INIT, other = WAITQ_INIT;
	struct waitq_batch b = { NULL, NULL };
	struct waiter w[3];
	setup(w, 3);
	for (int i = 0; i < 3; i++)
		waitq_arm(&q, &w[i].e, 0, 0, fired);
	waitq_arm(&other, &w[1].e, 0, 0, fired);
	CHECK_INT(waitq_wake(&q, SIZE_MAX, &b), 2);
	waitq_fire(&b);
	CHECK(nfired == 2 && order[0] == 0 && order[1] == 2);
	CHECK_INT(waitq_wake(&other, SIZE_MAX, &b), 1);
	waitq_fire(&b);
	CHECK_INT(order[2], 1);
}

static void deadlines_fire_when_due(void)
{
	struct waitq q = WAITQ_INIT;
	struct waitq_batch b = { NULL, NULL };
	struct waiter w[4];
	setup(w, 4);
	waitq_arm(&q, &w[0].e, 300, 0, fired);
	waitq_arm(&q, &w[1].e, 100, 0, fired);
	waitq_arm(&q, &w[2].e, 0, 0, fired);    /* no deadline */
	waitq_arm(&q, &w[3].e, 200, 0, fired);
	CHECK_INT(waitq_expire(&q, 50, &b), 100);
	CHECK(b.head == NULL);
	CHECK_INT(waitq_expire(&q, 200, &b), 300);      /* 100 and 200 are due, 200 exactly */
	waitq_fire(&b);
	CHECK(nfired == 2 && order[0] == 1 && order[1] == 3);
	CHECK_INT(waitq_expire(&q, 1000000, &b), 0);
	waitq_fire(&b);
	CHECK(nfired == 3 && order[2] == 0);
	CHECK(waitq_armed(&w[2].e));            /* only a wake-up ends it */
}

static void flagged_wake_takes_only_flagged(void)
{
	struct waitq q = WAITQ_INIT;
	struct waitq_batch b = { NULL, NULL };
	struct waiter w[4];
	setup(w, 4);
	for (int i = 0; i < 4; i++)
		waitq_arm(&q, &w[i].e, 0, i % 2 ? 1u : 0u, fired);
	CHECK_INT(waitq_wake_flagged(&q, 1, &b), 2);
	waitq_fire(&b);
	CHECK(nfired == 2 && order[0] == 1 && order[1] == 3);
	CHECK(waitq_armed(&w[0].e) && waitq_armed(&w[2].e));
}

/* A callback may arm its own entry again (a stream's next wait): the batch
 * it came from is not disturbed. */
static struct waitq rearm_q = WAITQ_INIT;
static void rearm(struct waitq_entry *e)
{
	fired(e);
	waitq_arm(&rearm_q, e, 0, 0, fired);
}

static void callback_may_rearm(void)
{
	struct waitq_batch b = { NULL, NULL };
	struct waiter w[3];
	setup(w, 3);
	for (int i = 0; i < 3; i++)
		waitq_arm(&rearm_q, &w[i].e, 0, 0, rearm);
	waitq_wake(&rearm_q, SIZE_MAX, &b);
	waitq_fire(&b);
	CHECK_INT(nfired, 3);
	CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2);
	CHECK_INT(waitq_wake(&rearm_q, SIZE_MAX, &b), 3);
	waitq_fire(&b);
	CHECK_INT(nfired, 6);
}

static void batches_append_in_order(void)
{
	struct waitq q = WAITQ_INIT;
	struct waitq_batch a = { NULL, NULL }, b = { NULL, NULL };
	struct waiter w[4];
	setup(w, 4);
	for (int i = 0; i < 4; i++)
		waitq_arm(&q, &w[i].e, 0, 0, fired);
	waitq_wake(&q, 2, &a);
	waitq_wake(&q, 2, &b);
	waitq_batch_move(&a, &b);
	CHECK(b.head == NULL && b.tail == NULL);
	waitq_fire(&a);
	CHECK_INT(nfired, 4);
	for (int i = 0; i < 4; i++)
		CHECK_INT(order[i], i);
}

int main(void)
{
	RUN(wakes_in_arrival_order);
	RUN(wakes_exactly_n_oldest);
	RUN(cancelled_entries_never_fire);
	RUN(arming_twice_moves_the_entry);
	RUN(deadlines_fire_when_due);
	RUN(flagged_wake_takes_only_flagged);
	RUN(callback_may_rearm);
	RUN(batches_append_in_order);
	return CHECK_EXIT();
}
