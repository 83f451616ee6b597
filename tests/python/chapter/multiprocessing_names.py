from spawnd import multiprocessing
import time


def named_worker():
    name = multiprocessing.current_process().name
    print(name, 'Starting')
    time.sleep(2)
    print(name, 'Exiting')


def my_service():
    name = multiprocessing.current_process().name
    print(name, 'Starting')
    time.sleep(3)
    print(name, 'Exiting')


if __name__ == '__main__':
    service = multiprocessing.Process(
        name='my_service',
        target=my_service,
    )
    worker_1 = multiprocessing.Process(
        name='worker 1',
        target=named_worker,
    )
    worker_2 = multiprocessing.Process(  # default name
        target=named_worker,
    )

    worker_1.start()
    worker_2.start()
    service.start()
