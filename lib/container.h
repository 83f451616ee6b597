/* container — container_of(): the struct that embeds a member, from a pointer
 * to that member. Callbacks get back their owner this way (a waiter embedded
 * in a request, a stream embedded in a handler's stream), so every callback
 * keeps its exact type and no function pointer is ever cast to another type
 * (a call through such a cast is undefined behaviour).
 */
#ifndef SPAWND_CONTAINER_H
#define SPAWND_CONTAINER_H

#include <stddef.h>

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
