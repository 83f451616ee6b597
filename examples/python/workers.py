"""Python target functions for `make run` (examples/targets.json, "python" form).

Each runs in a fresh python3 (`python3 -I`, this folder first on sys.path) with
the request's validated arguments; see the README's "Python target functions".
"""
def worker(num):
    """The chapter's worker: prints "Worker: N"."""
    print('Worker:', num)


def square(x):
    """Returns x * x (a "returns": "json" target: stdout is the JSON result)."""
    return x * x



def _queue_call(path, body=None):
    """POST to this server's /queues/... with the worker's own token (SPAWND_URL, SPAWND_TOKEN)."""
    import json, os, urllib.request
    req = urllib.request.Request(os.environ['SPAWND_URL'] + '/queues/' + path, method='POST',
                                 data=json.dumps(body or {}).encode(),
                                 headers={'Authorization': 'Bearer ' + os.environ['SPAWND_TOKEN'],
                                          'Content-Type': 'application/json'})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def consumer(tasks, results):
    """The chapter's JoinableQueue consumer: takes numbers from queue `tasks` until a poison
    pill (null), puts "N * N = M" on queue `results`, and calls task_done for each."""
    while True:
        got = _queue_call(tasks + '/get')
        if 'empty' in got:          # the server's longest wait passed: ask again
            continue
        n = got['item']
        if n is None:
            print('Exiting')
            _queue_call(tasks + '/task_done')
            return
        print('Consuming', n)
        _queue_call(results + '/put', {'item': '%s * %s = %s' % (n, n, n * n)})
        _queue_call(tasks + '/task_done')
