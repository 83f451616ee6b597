from spawnd import multiprocessing


def mutable_producer(ns, event):
    # DOES NOT UPDATE GLOBAL VALUE!
    ns.my_list.append('This is the value')
    event.set()


def mutable_consumer(ns, event):
    print('Before event:', ns.my_list)
    event.wait()
    print('After event :', ns.my_list)


if __name__ == '__main__':
    mgr = multiprocessing.Manager()
    namespace = mgr.Namespace()
    namespace.my_list = []

    event = multiprocessing.Event()
    p = multiprocessing.Process(
        target=mutable_producer,
        args=(namespace, event),
    )
    c = multiprocessing.Process(
        target=mutable_consumer,
        args=(namespace, event),
    )

    c.start()
    p.start()

    c.join()
    p.join()
