// asyncio.Queue / PriorityQueue / LifoQueue semantics for aio's queues (loop/queues.h).
#include "loop/queues.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::join;
using Strings = std::vector<std::string>;

// Every test bounds its run: a queue wait that never ends fails as a TimeoutError.
constexpr double kTestTimeout = 10.0;

template <class T>
T run(EventLoop& loop, Coro<T> coro) {
  return loop.run_until_complete(wait_for(std::move(coro), kTestTimeout));
}

// Runs `ticks` loop iterations from inside a task.
Coro<void> ticks(int count) {
  for (int i = 0; i < count; ++i) co_await sleep(0);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- Without a loop: the nowait half -------------------------------------------------------

TEST(QueueTest, ErrorsAreOrdinaryExceptions) {
  static_assert(std::is_base_of_v<std::exception, QueueEmpty>);
  static_assert(std::is_base_of_v<Exception, QueueEmpty>);
  static_assert(std::is_base_of_v<std::exception, QueueFull>);
  static_assert(std::is_base_of_v<Exception, QueueFull>);
  EXPECT_EQ(error_message([] { throw QueueEmpty(); }), "");
  EXPECT_EQ(error_message([] { throw QueueFull("x"); }), "x");
}

TEST(QueueTest, NowaitIsFirstInFirstOutWithinMaxsize) {
  Queue<int> queue(3);
  EXPECT_EQ(queue.maxsize(), 3u);
  EXPECT_TRUE(queue.empty());
  EXPECT_FALSE(queue.full());
  queue.put_nowait(1);
  queue.put_nowait(2);
  queue.put_nowait(3);
  EXPECT_EQ(queue.qsize(), 3u);
  EXPECT_TRUE(queue.full());
  EXPECT_THROW(queue.put_nowait(4), QueueFull);
  EXPECT_EQ(queue.qsize(), 3u);
  EXPECT_EQ(queue.get_nowait(), 1);
  EXPECT_FALSE(queue.full());
  queue.put_nowait(4);
  EXPECT_EQ(queue.get_nowait(), 2);
  EXPECT_EQ(queue.get_nowait(), 3);
  EXPECT_EQ(queue.get_nowait(), 4);
  EXPECT_TRUE(queue.empty());
  EXPECT_THROW(queue.get_nowait(), QueueEmpty);
}

TEST(QueueTest, MaxsizeZeroIsUnbounded) {
  Queue<int> queue;
  EXPECT_EQ(queue.maxsize(), 0u);
  for (int i = 0; i < 10000; ++i) queue.put_nowait(i);
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.qsize(), 10000u);
}

TEST(LifoQueueTest, LastInFirstOut) {
  LifoQueue<std::string> queue(2);
  queue.put_nowait("a");
  queue.put_nowait("b");
  EXPECT_THROW(queue.put_nowait("c"), QueueFull);
  EXPECT_EQ(queue.get_nowait(), "b");
  queue.put_nowait("c");
  EXPECT_EQ(queue.get_nowait(), "c");
  EXPECT_EQ(queue.get_nowait(), "a");
  EXPECT_THROW(queue.get_nowait(), QueueEmpty);
}

TEST(PriorityQueueTest, SmallestFirst) {
  PriorityQueue<int> queue;
  for (int value : {5, 1, 4, 1, 9, 2, 6, 5, 3}) queue.put_nowait(value);
  std::vector<int> out;
  while (!queue.empty()) out.push_back(queue.get_nowait());
  EXPECT_EQ(out, (std::vector<int>{1, 1, 2, 3, 4, 5, 5, 6, 9}));

  PriorityQueue<int, std::greater<int>> largest_first;
  for (int value : {5, 1, 4, 9, 2}) largest_first.put_nowait(value);
  out.clear();
  while (!largest_first.empty()) out.push_back(largest_first.get_nowait());
  EXPECT_EQ(out, (std::vector<int>{9, 5, 4, 2, 1}));

  // asyncio's (priority, data) entries.
  PriorityQueue<std::pair<int, std::string>> jobs(3);
  jobs.put_nowait({2, "write"});
  jobs.put_nowait({1, "read"});
  jobs.put_nowait({2, "close"});
  EXPECT_THROW(jobs.put_nowait({0, "late"}), QueueFull);
  EXPECT_EQ(jobs.get_nowait().second, "read");
  EXPECT_EQ(jobs.get_nowait().second, "close");
  EXPECT_EQ(jobs.get_nowait().second, "write");
}

// Items with equal priorities: the order they come out in is heapq's, exactly.
constexpr const char* kHeapTiesScenario = R"py(
import asyncio
class Item:
    def __init__(self, p, n):
        self.p = p
        self.n = n
    def __lt__(self, other):
        return self.p < other.p
async def main():
    q = asyncio.PriorityQueue()
    out = []
    for k, c in enumerate("abcdefghijklmnopqrstuvwxyz"):
        q.put_nowait(Item((k * 7) % 4, c))
        if k % 3 == 2:
            it = q.get_nowait()
            out.append(str(it.p) + it.n)
    while not q.empty():
        it = q.get_nowait()
        out.append(str(it.p) + it.n)
    print(" ".join(out))
asyncio.run(main())
)py";

struct Ranked {
  int priority;
  std::string name;
};
struct ByPriority {
  bool operator()(const Ranked& a, const Ranked& b) const { return a.priority < b.priority; }
};

TEST(PriorityQueueTest, TiesComeOutInHeapqOrderLikeCPython) {
  PriorityQueue<Ranked, ByPriority> queue;
  Strings out;
  const std::string letters = "abcdefghijklmnopqrstuvwxyz";
  for (int k = 0; k < static_cast<int>(letters.size()); ++k) {
    queue.put_nowait({(k * 7) % 4, std::string(1, letters[k])});
    if (k % 3 == 2) {
      Ranked item = queue.get_nowait();
      out.push_back(std::to_string(item.priority) + item.name);
    }
  }
  while (!queue.empty()) {
    Ranked item = queue.get_nowait();
    out.push_back(std::to_string(item.priority) + item.name);
  }
  EXPECT_EQ(join(out),
            "0a 0e 0i 1d 0m 0q 0u 1h 0y 1t 1p 1l 1x 2c 2w 2k 2s 2o 2g 3j 3v 3r 3f 3n 3z 3b");
  ::aio::testing::expect_same_as_cpython(join(out), kHeapTiesScenario);
}

TEST(QueueTest, MoveOnlyItems) {
  EventLoop loop;
  Queue<std::unique_ptr<int>> fifo(1);
  LifoQueue<std::unique_ptr<int>> lifo;
  struct ByValue {
    bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const {
      return *a < *b;
    }
  };
  PriorityQueue<std::unique_ptr<int>, ByValue> heap;
  auto producer = [&]() -> Coro<void> {
    for (int i = 0; i < 5; ++i) co_await fifo.put(std::make_unique<int>(i));  // waits: maxsize 1
  };
  auto consumer = [&]() -> Coro<int> {
    int sum = 0;
    for (int i = 0; i < 5; ++i) {
      std::unique_ptr<int> item = co_await fifo.get();
      sum += *item;
      lifo.put_nowait(std::make_unique<int>(*item));
      co_await heap.put(std::move(item));
    }
    co_return sum;
  };
  auto main_coro = [&]() -> Coro<int> {
    Task<void> produce = get_running_loop().create_task(producer());
    int sum = co_await consumer();
    co_await produce;
    co_return sum;
  };
  EXPECT_EQ(run(loop, main_coro()), 10);
  EXPECT_EQ(*lifo.get_nowait(), 4);
  EXPECT_EQ(*heap.get_nowait(), 0);
  EXPECT_EQ(*heap.get_nowait(), 1);
}

TEST(QueueTest, ReprListsMaxsizeItemsWaitersAndUnfinishedTasks) {
  Queue<int> queue(2);
  std::string empty = queue.repr();
  EXPECT_EQ(empty.rfind("<Queue at 0x", 0), 0u) << empty;
  EXPECT_TRUE(contains(empty, " maxsize=2>")) << empty;
  queue.put_nowait(1);
  queue.put_nowait(2);
  EXPECT_TRUE(contains(queue.repr(), " maxsize=2 _queue=[1, 2] tasks=2>")) << queue.repr();
  EXPECT_EQ(LifoQueue<int>().repr().rfind("<LifoQueue at ", 0), 0u);
  EXPECT_EQ(PriorityQueue<int>().repr().rfind("<PriorityQueue at ", 0), 0u);

  EventLoop loop;
  auto putter = [&]() -> Coro<void> { co_await queue.put(3); };
  auto main_coro = [&]() -> Coro<std::string> {
    Task<void> waiting = get_running_loop().create_task(putter());
    co_await sleep(0);
    std::string text = queue.repr();
    queue.get_nowait();
    co_await waiting;
    co_return text;
  };
  EXPECT_TRUE(contains(run(loop, main_coro()), " _queue=[1, 2] _putters[1] tasks=2>"));
  EXPECT_TRUE(contains(queue.repr(), " _queue=[2, 3] tasks=3>")) << queue.repr();
}

// --- Waiting ----------------------------------------------------------------------------------

TEST(QueueTest, GetOfAnAvailableItemDoesNotSuspend) {
  EventLoop loop;
  Queue<int> queue;
  queue.put_nowait(7);
  auto body = [&]() -> Coro<bool> {
    bool other_ran = false;
    get_running_loop().call_soon([&] { other_ran = true; });
    int item = co_await queue.get();
    co_await queue.put(8);  // room: no suspension either
    bool ran = other_ran;
    co_await sleep(0);  // let the callback run before `other_ran` goes away
    co_return item == 7 && !ran;
  };
  EXPECT_TRUE(run(loop, body()));
  EXPECT_EQ(queue.get_nowait(), 8);
}

TEST(QueueTest, GetWaitsWhileEmptyAndGettersAreServedInOrder) {
  EventLoop loop;
  Queue<int> queue;
  Strings order;
  auto getter = [&](std::string name) -> Coro<void> {
    int item = co_await queue.get();
    order.push_back(name + ":" + std::to_string(item));
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks;
    for (const char* name : {"a", "b", "c"}) tasks.push_back(running.create_task(getter(name)));
    co_await ticks(3);
    EXPECT_TRUE(order.empty());
    queue.put_nowait(1);
    queue.put_nowait(2);
    co_await sleep(0);
    order.push_back("tick");
    queue.put_nowait(3);
    for (Task<void>& task : tasks) co_await task;
  };
  run(loop, main_coro());
  EXPECT_EQ(join(order), "a:1 b:2 tick c:3");
}

TEST(QueueTest, PutWaitsWhileFullAndPuttersResumeInOrder) {
  EventLoop loop;
  Queue<int> queue(1);
  Strings order;
  auto putter = [&](int item) -> Coro<void> {
    co_await queue.put(item);
    order.push_back("put" + std::to_string(item));
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks;
    for (int item : {1, 2, 3}) tasks.push_back(running.create_task(putter(item)));
    co_await ticks(3);
    EXPECT_EQ(join(order), "put1");
    EXPECT_TRUE(queue.full());
    while (order.size() < 3 || !queue.empty()) {
      if (!queue.empty()) order.push_back("got" + std::to_string(queue.get_nowait()));
      co_await sleep(0);
    }
    for (Task<void>& task : tasks) co_await task;
  };
  run(loop, main_coro());
  EXPECT_EQ(join(order), "put1 got1 put2 got2 put3 got3");
}

// Getters and putters on a bounded queue, woken and re-queued, as CPython orders them.
constexpr const char* kWakeOrderScenario = R"py(
import asyncio
order = []
async def getter(q, name):
    order.append(name + ":wait")
    item = await q.get()
    order.append(name + ":" + str(item))
async def putter(q, name, item):
    order.append(name + ":put")
    await q.put(item)
    order.append(name + ":done")
async def main():
    q = asyncio.Queue(2)
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(getter(q, "g1")), loop.create_task(getter(q, "g2"))]
    await asyncio.sleep(0)
    for i in range(1, 7):
        tasks.append(loop.create_task(putter(q, "p" + str(i), i)))
    await asyncio.sleep(0)
    order.append("size" + str(q.qsize()))
    tasks.append(loop.create_task(getter(q, "g3")))
    tasks.append(loop.create_task(getter(q, "g4")))
    for i in range(3):
        await asyncio.sleep(0)
    order.append("size" + str(q.qsize()))
    while not q.empty():
        order.append("main:" + str(q.get_nowait()))
        await asyncio.sleep(0)
    for t in tasks:
        await t
    order.append("size" + str(q.qsize()))
asyncio.run(main())
print(" ".join(order))
)py";

TEST(QueueTest, WakeUpOrderOfGettersAndPuttersMatchesCPython) {
  EventLoop loop;
  Queue<int> queue(2);
  Strings order;
  auto getter = [&](std::string name) -> Coro<void> {
    order.push_back(name + ":wait");
    int item = co_await queue.get();
    order.push_back(name + ":" + std::to_string(item));
  };
  auto putter = [&](std::string name, int item) -> Coro<void> {
    order.push_back(name + ":put");
    co_await queue.put(item);
    order.push_back(name + ":done");
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks;
    tasks.push_back(running.create_task(getter("g1")));
    tasks.push_back(running.create_task(getter("g2")));
    co_await sleep(0);
    for (int i = 1; i < 7; ++i) {
      tasks.push_back(running.create_task(putter("p" + std::to_string(i), i)));
    }
    co_await sleep(0);
    order.push_back("size" + std::to_string(queue.qsize()));
    tasks.push_back(running.create_task(getter("g3")));
    tasks.push_back(running.create_task(getter("g4")));
    co_await ticks(3);
    order.push_back("size" + std::to_string(queue.qsize()));
    while (!queue.empty()) {
      order.push_back("main:" + std::to_string(queue.get_nowait()));
      co_await sleep(0);
    }
    for (Task<void>& task : tasks) co_await task;
    order.push_back("size" + std::to_string(queue.qsize()));
  };
  run(loop, main_coro());
  EXPECT_EQ(join(order),
            "g1:wait g2:wait p1:put p1:done p2:put p2:done p3:put p4:put p5:put p6:put size2 g1:1 "
            "g2:2 g3:wait g4:wait p3:done p4:done g3:3 g4:4 size0 p5:done p6:done size2");
  ::aio::testing::expect_same_as_cpython(join(order), kWakeOrderScenario);
}

// A woken getter whose item was taken by get_nowait() before it ran waits again, at the back.
constexpr const char* kStolenWakeUpScenario = R"py(
import asyncio
order = []
async def getter(q, name):
    item = await q.get()
    order.append(name + ":" + str(item))
async def main():
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()
    a = loop.create_task(getter(q, "a"))
    b = loop.create_task(getter(q, "b"))
    await asyncio.sleep(0)
    q.put_nowait(1)
    order.append("stole" + str(q.get_nowait()))
    await asyncio.sleep(0)
    q.put_nowait(2)
    await asyncio.sleep(0)
    q.put_nowait(3)
    await asyncio.gather(a, b)
asyncio.run(main())
print(" ".join(order))
)py";

TEST(QueueTest, AWokenGetterThatLostItsItemWaitsAgainAtTheBackLikeCPython) {
  EventLoop loop;
  Queue<int> queue;
  Strings order;
  auto getter = [&](std::string name) -> Coro<void> {
    int item = co_await queue.get();
    order.push_back(name + ":" + std::to_string(item));
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    Task<void> a = running.create_task(getter("a"));
    Task<void> b = running.create_task(getter("b"));
    co_await sleep(0);
    queue.put_nowait(1);
    order.push_back("stole" + std::to_string(queue.get_nowait()));
    co_await sleep(0);
    queue.put_nowait(2);
    co_await sleep(0);
    queue.put_nowait(3);
    co_await a;
    co_await b;
  };
  run(loop, main_coro());
  EXPECT_EQ(join(order), "stole1 b:2 a:3");
  ::aio::testing::expect_same_as_cpython(join(order), kStolenWakeUpScenario);
}

// --- Cancellation -----------------------------------------------------------------------------

// Getters and putters cancelled while waiting and after being woken, as CPython handles them.
constexpr const char* kCancelScenario = R"py(
import asyncio
order = []
async def getter(q, name):
    try:
        item = await q.get()
        order.append(name + ":" + str(item))
    except asyncio.CancelledError:
        order.append(name + ":cancelled")
async def putter(q, name, item):
    try:
        await q.put(item)
        order.append(name + ":put" + str(item))
    except asyncio.CancelledError:
        order.append(name + ":cancelled")
async def main():
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()
    a = loop.create_task(getter(q, "a"))
    b = loop.create_task(getter(q, "b"))
    c = loop.create_task(getter(q, "c"))
    d = loop.create_task(getter(q, "d"))
    await asyncio.sleep(0)
    q.put_nowait(1)
    a.cancel()
    c.cancel()
    q.put_nowait(2)
    await asyncio.sleep(0)
    order.append("size" + str(q.qsize()))
    await asyncio.sleep(0)
    order.append("size" + str(q.qsize()))
    await asyncio.gather(a, b, c, d)
    order.append("size" + str(q.qsize()))
    f = asyncio.Queue(1)
    f.put_nowait(0)
    p1 = loop.create_task(putter(f, "p1", 1))
    p2 = loop.create_task(putter(f, "p2", 2))
    p3 = loop.create_task(putter(f, "p3", 3))
    await asyncio.sleep(0)
    order.append("got" + str(f.get_nowait()))
    p1.cancel()
    await asyncio.sleep(0)
    order.append("size" + str(f.qsize()))
    await asyncio.sleep(0)
    order.append("got" + str(f.get_nowait()))
    p3.cancel()
    await asyncio.gather(p1, p2, p3)
    order.append("size" + str(f.qsize()))
asyncio.run(main())
print(" ".join(order))
)py";

TEST(QueueTest, CancelledGetAndPutPassTheirWakeUpOnLikeCPython) {
  EventLoop loop;
  Strings order;
  auto getter = [&](Queue<int>& queue, std::string name) -> Coro<void> {
    bool cancelled = false;
    try {
      int item = co_await queue.get();
      order.push_back(name + ":" + std::to_string(item));
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) order.push_back(name + ":cancelled");
  };
  auto putter = [&](Queue<int>& queue, std::string name, int item) -> Coro<void> {
    bool cancelled = false;
    try {
      co_await queue.put(item);
      order.push_back(name + ":put" + std::to_string(item));
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) order.push_back(name + ":cancelled");
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    Queue<int> q;
    Task<void> a = running.create_task(getter(q, "a"));
    Task<void> b = running.create_task(getter(q, "b"));
    Task<void> c = running.create_task(getter(q, "c"));
    Task<void> d = running.create_task(getter(q, "d"));
    co_await sleep(0);
    q.put_nowait(1);  // wakes a ...
    a.cancel();       // ... which is cancelled after its wake-up: b gets the item
    c.cancel();       // c is cancelled while waiting
    q.put_nowait(2);
    co_await sleep(0);
    order.push_back("size" + std::to_string(q.qsize()));
    co_await sleep(0);
    order.push_back("size" + std::to_string(q.qsize()));
    co_await gather(std::vector<Future<void>>{a, b, c, d});
    order.push_back("size" + std::to_string(q.qsize()));

    Queue<int> f(1);
    f.put_nowait(0);
    Task<void> p1 = running.create_task(putter(f, "p1", 1));
    Task<void> p2 = running.create_task(putter(f, "p2", 2));
    Task<void> p3 = running.create_task(putter(f, "p3", 3));
    co_await sleep(0);
    order.push_back("got" + std::to_string(f.get_nowait()));  // wakes p1 ...
    p1.cancel();                                              // ... cancelled: p2 gets the room
    co_await sleep(0);
    order.push_back("size" + std::to_string(f.qsize()));
    co_await sleep(0);
    order.push_back("got" + std::to_string(f.get_nowait()));
    p3.cancel();
    co_await gather(std::vector<Future<void>>{p1, p2, p3});
    order.push_back("size" + std::to_string(f.qsize()));
  };
  run(loop, main_coro());
  EXPECT_EQ(join(order),
            "a:cancelled c:cancelled b:1 size1 d:2 size0 size0 got0 p1:cancelled size0 p2:put2 "
            "got2 p3:cancelled size0");
  ::aio::testing::expect_same_as_cpython(join(order), kCancelScenario);
}

TEST(QueueTest, CancelledGetTakesNothingAndLeavesTheLine) {
  EventLoop loop;
  Queue<int> queue;
  auto main_coro = [&]() -> Coro<std::string> {
    EventLoop& running = get_running_loop();
    Task<int> first = running.create_task(queue.get());
    Task<int> second = running.create_task(queue.get());
    co_await sleep(0);
    std::string waiting = queue.repr();
    first.cancel();
    co_await sleep(0);
    std::string after_cancel = queue.repr();
    queue.put_nowait(5);
    int got = co_await second;
    EXPECT_TRUE(first.cancelled());
    co_return waiting + "|" + after_cancel + "|" + std::to_string(got) + "|" +
        std::to_string(queue.qsize());
  };
  std::string text = run(loop, main_coro());
  EXPECT_TRUE(contains(text, "_getters[2]>|")) << text;
  EXPECT_TRUE(contains(text, "_getters[1]>|5|0")) << text;
}

TEST(QueueTest, CancelledWokenGetWithNobodyElseWaitingLeavesTheItemQueued) {
  EventLoop loop;
  Queue<int> queue;
  auto main_coro = [&]() -> Coro<void> {
    Task<int> getter = get_running_loop().create_task(queue.get());
    co_await sleep(0);
    queue.put_nowait(9);
    getter.cancel();
    std::exception_ptr error;
    try {
      co_await getter;
    } catch (const CancelledError&) {
      error = std::current_exception();
    }
    EXPECT_TRUE(error != nullptr);
    EXPECT_EQ(queue.qsize(), 1u);
    EXPECT_EQ(queue.get_nowait(), 9);
  };
  run(loop, main_coro());
}

TEST(QueueTest, CancelledPutAddsNothing) {
  EventLoop loop;
  Queue<int> queue(1);
  queue.put_nowait(1);
  auto main_coro = [&]() -> Coro<void> {
    Task<void> putter = get_running_loop().create_task(queue.put(2));
    co_await sleep(0);
    EXPECT_TRUE(contains(queue.repr(), "_putters[1]"));
    putter.cancel();
    co_await sleep(0);
    EXPECT_TRUE(putter.cancelled());
    EXPECT_FALSE(contains(queue.repr(), "_putters")) << queue.repr();
    EXPECT_EQ(queue.get_nowait(), 1);
    EXPECT_TRUE(queue.empty());
    co_await ticks(2);
    EXPECT_TRUE(queue.empty());
  };
  run(loop, main_coro());
}

// Producers and consumers cancelled after 0, 1, 2, ... loop iterations, i.e. at each of their
// await points in turn (waiting, woken but not yet run, between items): every item whose put()
// returned is got exactly once or still queued; no item whose put() was cancelled appears.
TEST(QueueTest, CancellationAtEveryAwaitPointNeverLosesOrDuplicatesAnItem) {
  struct Counts {
    std::vector<int> put;  // put() returned
    std::vector<int> got;  // get() returned (any consumer)
  };
  auto producer = [](Queue<int>& queue, Counts& counts, int first, int count) -> Coro<void> {
    for (int i = first; i < first + count; ++i) {
      co_await queue.put(i);
      counts.put.push_back(i);
      if (i % 3 == 0) co_await sleep(0);
    }
  };
  auto consumer = [](Queue<int>& queue, Counts& counts, bool slow) -> Coro<void> {
    while (true) {
      int item = co_await queue.get();
      counts.got.push_back(item);
      if (slow) co_await sleep(0);
    }
  };
  int scenarios = 0;
  for (std::size_t maxsize : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
    for (int victim = 0; victim < 4; ++victim) {
      for (int when = 0; when < 24; ++when) {
        EventLoop loop;
        Queue<int> queue(maxsize);
        Counts counts;
        auto main_coro = [&]() -> Coro<void> {
          EventLoop& running = get_running_loop();
          std::vector<Task<void>> producers = {
              running.create_task(producer(queue, counts, 0, 20)),
              running.create_task(producer(queue, counts, 100, 20))};
          std::vector<Task<void>> consumers = {running.create_task(consumer(queue, counts, false)),
                                               running.create_task(consumer(queue, counts, true)),
                                               running.create_task(consumer(queue, counts, false))};
          co_await ticks(when);
          if (victim < 2) {
            producers[victim].cancel();
          } else {
            consumers[victim - 2].cancel();
            consumers[victim - 1].cancel();  // two at once: one may be woken, the other not
          }
          co_await ticks(1 + when % 3);
          consumers.push_back(running.create_task(consumer(queue, counts, false)));
          for (Task<void>& task : producers) {
            try {
              co_await task;
            } catch (const CancelledError&) {
            }
          }
          co_await ticks(5);  // let the consumers drain the queue
          for (Task<void>& task : consumers) task.cancel();
          co_await ticks(2);
        };
        run(loop, main_coro());
        std::vector<int> accounted = counts.got;
        while (!queue.empty()) accounted.push_back(queue.get_nowait());
        std::vector<int> put = counts.put;
        std::sort(put.begin(), put.end());
        std::sort(accounted.begin(), accounted.end());
        ASSERT_EQ(accounted, put) << "maxsize " << maxsize << " victim " << victim << " after "
                                  << when << " iterations";
        ++scenarios;
      }
    }
  }
  EXPECT_EQ(scenarios, 3 * 4 * 24);
}

TEST(QueueTest, WaitForTimeoutsOnGetNeverLoseItems) {
  EventLoop loop;
  Queue<int> queue;
  std::vector<int> got;
  auto producer = [&]() -> Coro<void> {
    for (int i = 0; i < 60; ++i) {
      queue.put_nowait(i);
      co_await sleep(i % 2 ? 0.0007 : 0);
    }
  };
  auto consumer = [&]() -> Coro<void> {
    while (got.size() < 60) {
      try {
        got.push_back(co_await wait_for(queue.get(), 0.0005));
      } catch (const TimeoutError&) {
      }
    }
  };
  auto main_coro = [&]() -> Coro<void> {
    // One timeout for certain: nothing is put yet.
    bool timed_out = false;
    try {
      co_await wait_for(queue.get(), 0.001);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_FALSE(contains(queue.repr(), "_getters")) << queue.repr();
    // Then timeouts racing with puts (how many depends on the machine's speed).
    EventLoop& running = get_running_loop();
    Task<void> produce = running.create_task(producer());
    Task<void> consume = running.create_task(consumer());
    co_await produce;
    co_await consume;
  };
  run(loop, main_coro());
  std::vector<int> expected(60);
  for (int i = 0; i < 60; ++i) expected[i] = i;
  EXPECT_EQ(got, expected);
  EXPECT_FALSE(contains(queue.repr(), "_getters")) << queue.repr();
}

// --- task_done / join -------------------------------------------------------------------------

TEST(QueueTest, TaskDoneTooManyTimesIsAValueError) {
  Queue<int> queue;
  EXPECT_EQ(error_message([&] { queue.task_done(); }), "task_done() called too many times");
  EXPECT_THROW(queue.task_done(), ValueError);
  queue.put_nowait(1);
  queue.get_nowait();
  queue.task_done();
  EXPECT_EQ(error_message([&] { queue.task_done(); }), "task_done() called too many times");
}

TEST(QueueTest, JoinReturnsAtOnceWhenEveryItemIsDone) {
  EventLoop loop;
  Queue<int> queue;
  auto body = [&]() -> Coro<bool> {
    bool other_ran = false;
    get_running_loop().call_soon([&] { other_ran = true; });
    co_await queue.join();
    bool ran = other_ran;
    co_await sleep(0);
    co_return ran;
  };
  EXPECT_FALSE(run(loop, body()));
}

// join() waits for the last task_done(), not for the queue to be empty.
constexpr const char* kJoinScenario = R"py(
import asyncio
order = []
async def worker(q, name):
    while True:
        item = await q.get()
        order.append(name + ":" + str(item))
        await asyncio.sleep(0)
        q.task_done()
        order.append(name + ":done" + str(item))
async def joiner(q, name):
    await q.join()
    order.append(name + ":joined")
async def main():
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()
    for i in range(3):
        q.put_nowait(i)
    j1 = loop.create_task(joiner(q, "j1"))
    w1 = loop.create_task(worker(q, "w1"))
    w2 = loop.create_task(worker(q, "w2"))
    j2 = loop.create_task(joiner(q, "j2"))
    await q.join()
    order.append("main:joined")
    q.put_nowait(3)
    await asyncio.gather(j1, j2)
    await q.join()
    order.append("main:joined2")
    w1.cancel()
    w2.cancel()
    await asyncio.sleep(0)
asyncio.run(main())
print(" ".join(order))
)py";

TEST(QueueTest, JoinWaitsForEveryTaskDoneLikeCPython) {
  EventLoop loop;
  Queue<int> queue;
  Strings order;
  auto worker = [&](std::string name) -> Coro<void> {
    while (true) {
      int item = co_await queue.get();
      order.push_back(name + ":" + std::to_string(item));
      co_await sleep(0);
      queue.task_done();
      order.push_back(name + ":done" + std::to_string(item));
    }
  };
  auto joiner = [&](std::string name) -> Coro<void> {
    co_await queue.join();
    order.push_back(name + ":joined");
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    for (int i = 0; i < 3; ++i) queue.put_nowait(i);
    Task<void> j1 = running.create_task(joiner("j1"));
    Task<void> w1 = running.create_task(worker("w1"));
    Task<void> w2 = running.create_task(worker("w2"));
    Task<void> j2 = running.create_task(joiner("j2"));
    co_await queue.join();
    order.push_back("main:joined");
    queue.put_nowait(3);
    co_await gather(std::vector<Future<void>>{j1, j2});
    co_await queue.join();
    order.push_back("main:joined2");
    w1.cancel();
    w2.cancel();
    co_await sleep(0);
  };
  run(loop, main_coro());
  EXPECT_EQ(join(order),
            "w1:0 w2:1 w1:done0 w1:2 w2:done1 w1:done2 main:joined j1:joined j2:joined w2:3 "
            "w2:done3 main:joined2");
  ::aio::testing::expect_same_as_cpython(join(order), kJoinScenario);
}

TEST(QueueTest, CancelledJoinLeavesTheOthersWaiting) {
  EventLoop loop;
  Queue<int> queue;
  queue.put_nowait(1);
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    Task<void> cancelled = running.create_task(queue.join());
    Task<void> kept = running.create_task(queue.join());
    co_await sleep(0);
    cancelled.cancel();
    co_await sleep(0);
    EXPECT_TRUE(cancelled.cancelled());
    EXPECT_FALSE(kept.done());
    queue.get_nowait();
    queue.task_done();
    co_await kept;
  };
  run(loop, main_coro());
}

// --- Many tasks -------------------------------------------------------------------------------

TEST(QueueTest, ProducersAndConsumersDeliverEveryItemOnce) {
  EventLoop loop;
  Queue<int> queue(5);
  std::map<int, int> seen;
  std::map<std::string, int> per_consumer;
  auto producer = [&](int first) -> Coro<void> {
    for (int i = first; i < first + 200; ++i) {
      co_await queue.put(i);
      if (i % 7 == 0) co_await sleep(0);
    }
  };
  auto consumer = [&](std::string name) -> Coro<void> {
    while (true) {
      int item = co_await queue.get();
      ++seen[item];
      ++per_consumer[name];
      if (item % 5 == 0) co_await sleep(0);
      queue.task_done();
    }
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> consumers;
    for (const char* name : {"c1", "c2", "c3", "c4"}) {
      consumers.push_back(running.create_task(consumer(name)));
    }
    std::vector<Task<void>> producers;
    for (int first : {0, 1000, 2000}) producers.push_back(running.create_task(producer(first)));
    for (Task<void>& task : producers) co_await task;
    co_await queue.join();
    for (Task<void>& task : consumers) task.cancel();
    co_await ticks(1);
    for (Task<void>& task : consumers) EXPECT_TRUE(task.cancelled());
  };
  run(loop, main_coro());
  EXPECT_EQ(seen.size(), 600u);
  for (const auto& [item, times] : seen) EXPECT_EQ(times, 1) << item;
  EXPECT_EQ(per_consumer.size(), 4u);  // the work was shared
  EXPECT_TRUE(queue.empty());
}

// --- Loop binding -----------------------------------------------------------------------------

TEST(QueueTest, WaitingBindsTheQueueToTheRunningLoop) {
  Queue<int> queue;
  {
    EventLoop first;
    EXPECT_THROW(first.run_until_complete(wait_for(queue.get(), 0.001)), TimeoutError);
    EXPECT_FALSE(contains(queue.repr(), "_getters")) << queue.repr();
  }
  EventLoop second;
  std::string message =
      error_message([&] { second.run_until_complete(wait_for(queue.get(), kTestTimeout)); });
  EXPECT_TRUE(contains(message, "is bound to a different event loop")) << message;
  EXPECT_EQ(message.rfind("<Queue at ", 0), 0u) << message;
  // The nowait half needs no loop at all.
  queue.put_nowait(1);
  EXPECT_EQ(queue.get_nowait(), 1);
  // Operations that need not wait do not bind.
  Queue<int> fresh;
  fresh.put_nowait(2);
  EXPECT_EQ(second.run_until_complete(fresh.get()), 2);
  EventLoop third;
  EXPECT_THROW(third.run_until_complete(wait_for(fresh.get(), 0.001)), TimeoutError);
}

}  // namespace
}  // namespace aio
