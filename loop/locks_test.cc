// asyncio's synchronization primitives: Lock, Event, Condition, Semaphore, BoundedSemaphore.
// Order scenarios are compared with CPython's asyncio where python3 is available.
#include "loop/locks.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "loop/combinators.h"
#include "testing/loop_test_util.h"

namespace aio {
namespace {

using ::aio::testing::error_message;
using ::aio::testing::join;
using ::aio::testing::LogCapture;
using ::aio::testing::run_with_timeout;
using Strings = std::vector<std::string>;

// Runs `coro` as a task, under a deadline: a deadlock fails the test (run_with_timeout) and
// throws TimeoutError instead of hanging. Nothing is cancelled on the way, so a scenario that
// catches CancelledError cannot swallow the deadline.
template <class T>
T run_bounded(EventLoop& loop, Coro<T> coro, double timeout = 5.0) {
  Task<T> task = loop.create_task(std::move(coro));
  task.add_done_callback([&loop](Future<T>&) { loop.stop(); });
  if (!run_with_timeout(loop, timeout)) throw TimeoutError("scenario still pending");
  return task.result();
}

// Lets the loop run `n` iterations.
Coro<void> yields(int n) {
  for (int i = 0; i < n; ++i) co_await sleep(0);
}

// Awaits a task that may end cancelled (`try: await t except CancelledError:`); true if it did.
template <class T>
Coro<bool> ends_cancelled(Task<T> task) {
  try {
    co_await task;
  } catch (const CancelledError&) {
    co_return true;
  }
  co_return false;
}

std::string bool_text(bool value) { return value ? "true" : "false"; }

// --- Lock -------------------------------------------------------------------------------------

TEST(LockTest, AcquireReleaseLockedAndRepr) {
  EventLoop loop;
  Lock lock;
  EXPECT_FALSE(lock.locked());
  EXPECT_EQ(lock.repr(), "<aio::Lock [unlocked]>");
  auto body = [&]() -> Coro<void> {
    co_await lock.acquire();
    EXPECT_TRUE(lock.locked());
    EXPECT_EQ(lock.repr(), "<aio::Lock [locked]>");
    lock.release();
    EXPECT_FALSE(lock.locked());
  };
  run_bounded(loop, body());
  EXPECT_FALSE(lock.locked());
}

TEST(LockTest, ReleasingAnUnlockedLockIsARuntimeError) {
  Lock lock;
  EXPECT_EQ(error_message([&] { lock.release(); }), "Lock is not acquired.");
  EXPECT_THROW(lock.release(), RuntimeError);
}

TEST(LockTest, UncontendedAcquireDoesNotSuspend) {
  EventLoop loop;
  Lock lock;
  auto body = [&]() -> Coro<bool> {
    bool other_ran = false;
    get_running_loop().call_soon([&] { other_ran = true; });
    co_await lock.acquire();
    bool suspended = other_ran;
    lock.release();
    co_await lock.acquire();  // again, right after a release with nobody waiting
    suspended = suspended || other_ran;
    lock.release();
    co_await sleep(0);  // `other_ran` lives in this frame until the callback has run
    co_return !suspended;
  };
  EXPECT_TRUE(run_bounded(loop, body()));
}

TEST(LockTest, WaitersAcquireInArrivalOrder) {
  EventLoop loop;
  Lock lock;
  Strings order;
  auto worker = [&](std::string name, int delay) -> Coro<void> {
    co_await yields(delay);
    order.push_back(name + "-wait");
    co_await lock.acquire();
    order.push_back(name + "-in");
    co_await sleep(0);
    lock.release();
  };
  auto main_coro = [&]() -> Coro<void> {
    co_await lock.acquire();
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks;
    tasks.push_back(running.create_task(worker("a", 3)));
    tasks.push_back(running.create_task(worker("b", 1)));
    tasks.push_back(running.create_task(worker("c", 2)));
    tasks.push_back(running.create_task(worker("d", 0)));
    co_await yields(6);
    EXPECT_EQ(lock.repr(), "<aio::Lock [locked, waiters:4]>");
    lock.release();
    for (Task<void>& task : tasks) co_await task;
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "d-wait b-wait c-wait a-wait d-in b-in c-in a-in");
  EXPECT_FALSE(lock.locked());
  EXPECT_EQ(lock.repr(), "<aio::Lock [unlocked]>");
}

TEST(LockTest, ATaskAcquiringRightAfterAReleaseQueuesBehindTheWokenWaiter) {
  EventLoop loop;
  Lock lock;
  Strings order;
  auto worker = [&]() -> Coro<void> {
    co_await lock.acquire();
    order.push_back("a-in");
    lock.release();
  };
  auto main_coro = [&]() -> Coro<void> {
    co_await lock.acquire();
    Task<void> a = get_running_loop().create_task(worker());
    co_await yields(2);
    lock.release();
    // asyncio 3.8: unlocked until the woken waiter runs, but a newcomer cannot barge in.
    EXPECT_FALSE(lock.locked());
    co_await lock.acquire();
    order.push_back("main-in");
    lock.release();
    co_await a;
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "a-in main-in");
}

TEST(LockTest, AWaiterCancelledWhileWaitingLeavesTheLine) {
  EventLoop loop;
  Lock lock;
  Strings order;
  auto worker = [&](std::string name) -> Coro<void> {
    try {
      co_await lock.acquire();
    } catch (const CancelledError&) {
      order.push_back(name + "-cancelled");
      throw;
    }
    order.push_back(name + "-in");
    co_await sleep(0);
    lock.release();
  };
  auto main_coro = [&]() -> Coro<void> {
    co_await lock.acquire();
    EventLoop& running = get_running_loop();
    Task<void> a = running.create_task(worker("a"));
    Task<void> b = running.create_task(worker("b"));
    Task<void> c = running.create_task(worker("c"));
    co_await yields(2);
    EXPECT_EQ(lock.repr(), "<aio::Lock [locked, waiters:3]>");
    EXPECT_TRUE(b.cancel());
    co_await yields(2);
    EXPECT_EQ(lock.repr(), "<aio::Lock [locked, waiters:2]>");
    lock.release();
    co_await a;
    EXPECT_TRUE(co_await ends_cancelled(b));
    co_await c;
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "b-cancelled a-in c-in");
  EXPECT_FALSE(lock.locked());
}

// The first waiter's future is cancelled before release() runs: release() wakes nobody (the
// first waiter is done), and the cancelled waiter hands the wake-up on when it runs.
TEST(LockTest, CancellingTheFirstWaiterJustBeforeAReleasePassesTheLockOn) {
  EventLoop loop;
  Lock lock;
  Strings order;
  auto worker = [&](std::string name) -> Coro<void> {
    try {
      co_await lock.acquire();
    } catch (const CancelledError&) {
      order.push_back(name + "-cancelled");
      throw;
    }
    order.push_back(name + "-in");
    lock.release();
  };
  auto main_coro = [&]() -> Coro<void> {
    co_await lock.acquire();
    EventLoop& running = get_running_loop();
    Task<void> a = running.create_task(worker("a"));
    Task<void> b = running.create_task(worker("b"));
    co_await yields(2);
    a.cancel();
    lock.release();
    EXPECT_TRUE(co_await ends_cancelled(a));
    co_await b;
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "a-cancelled b-in");
  EXPECT_FALSE(lock.locked());
}

// A waiter woken by release() and cancelled before it runs must not swallow the lock.
constexpr const char* kLockCancelledAfterWakeUp = R"py(
import asyncio
order = []
async def worker(lock, name):
    try:
        await lock.acquire()
    except asyncio.CancelledError:
        order.append(name + "-cancelled")
        raise
    order.append(name + "-in")
    await asyncio.sleep(0)
    lock.release()
    order.append(name + "-out")
async def main():
    lock = asyncio.Lock()
    await lock.acquire()
    a = asyncio.create_task(worker(lock, "a"))
    b = asyncio.create_task(worker(lock, "b"))
    c = asyncio.create_task(worker(lock, "c"))
    await asyncio.sleep(0)
    lock.release()
    a.cancel()
    order.append("released")
    for t in (a, b, c):
        try:
            await t
        except asyncio.CancelledError:
            order.append("main-saw-cancel")
    order.append("locked=" + str(lock.locked()).lower())
asyncio.run(main())
print(" ".join(order))
)py";

TEST(LockTest, AWaiterCancelledAfterBeingWokenPassesTheLockOnLikeCPython) {
  EventLoop loop;
  Lock lock;
  Strings order;
  auto worker = [&](std::string name) -> Coro<void> {
    try {
      co_await lock.acquire();
    } catch (const CancelledError&) {
      order.push_back(name + "-cancelled");
      throw;
    }
    order.push_back(name + "-in");
    co_await sleep(0);
    lock.release();
    order.push_back(name + "-out");
  };
  auto main_coro = [&]() -> Coro<void> {
    co_await lock.acquire();
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks{running.create_task(worker("a")),
                                  running.create_task(worker("b")),
                                  running.create_task(worker("c"))};
    co_await sleep(0);
    lock.release();
    tasks[0].cancel();  // its wake-up future is already done: the cancellation comes later
    order.push_back("released");
    for (Task<void>& task : tasks) {
      if (co_await ends_cancelled(task)) order.push_back("main-saw-cancel");
    }
    order.push_back("locked=" + bool_text(lock.locked()));
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "released a-cancelled b-in main-saw-cancel b-out c-in c-out locked=false");
  ::aio::testing::expect_same_as_cpython(join(order), kLockCancelledAfterWakeUp);
}

constexpr const char* kLockContentionWithCancel = R"py(
import asyncio
order = []
async def worker(lock, name):
    try:
        async with lock:
            order.append(name + "-in")
            await asyncio.sleep(0)
            order.append(name + "-out")
    except asyncio.CancelledError:
        order.append(name + "-cancelled")
        raise
async def main():
    lock = asyncio.Lock()
    a = asyncio.create_task(worker(lock, "a"))
    b = asyncio.create_task(worker(lock, "b"))
    c = asyncio.create_task(worker(lock, "c"))
    await asyncio.sleep(0)
    b.cancel()
    order.append("main")
    for t in (a, b, c):
        try:
            await t
        except asyncio.CancelledError:
            order.append("main-saw-cancel")
    order.append("locked=" + str(lock.locked()).lower())
asyncio.run(main())
print(" ".join(order))
)py";

TEST(LockTest, ThreeTasksContendingWithOneCancelledWhileWaitingLikeCPython) {
  EventLoop loop;
  Lock lock;
  Strings order;
  auto worker = [&](std::string name) -> Coro<void> {
    try {
      LockGuard guard = co_await lock.scoped();
      order.push_back(name + "-in");
      co_await sleep(0);
      order.push_back(name + "-out");
    } catch (const CancelledError&) {
      order.push_back(name + "-cancelled");
      throw;
    }
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks{running.create_task(worker("a")),
                                  running.create_task(worker("b")),
                                  running.create_task(worker("c"))};
    co_await sleep(0);
    tasks[1].cancel();
    order.push_back("main");
    for (Task<void>& task : tasks) {
      if (co_await ends_cancelled(task)) order.push_back("main-saw-cancel");
    }
    order.push_back("locked=" + bool_text(lock.locked()));
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "a-in main a-out b-cancelled main-saw-cancel c-in c-out locked=false");
  ::aio::testing::expect_same_as_cpython(join(order), kLockContentionWithCancel);
}

TEST(LockTest, ScopedGuardReleasesOnExceptionAndCanBeMovedOrReleasedEarly) {
  EventLoop loop;
  Lock lock;
  auto failing = [&]() -> Coro<void> {
    LockGuard guard = co_await lock.scoped();
    EXPECT_TRUE(lock.locked());
    co_await sleep(0);
    throw ValueError("boom");
  };
  EXPECT_EQ(error_message([&] { run_bounded(loop, failing()); }), "boom");
  EXPECT_FALSE(lock.locked());

  auto moving = [&]() -> Coro<void> {
    LockGuard outer;
    EXPECT_FALSE(outer.owns());
    {
      LockGuard inner = co_await lock.scoped();
      EXPECT_TRUE(inner.owns());
      outer = std::move(inner);
      EXPECT_FALSE(inner.owns());  // NOLINT(bugprone-use-after-move): checking the moved-from
    }
    EXPECT_TRUE(lock.locked());  // the moved-from guard released nothing
    EXPECT_TRUE(static_cast<bool>(outer));
    outer.release();
    EXPECT_FALSE(outer.owns());
    EXPECT_FALSE(lock.locked());
    outer.release();  // owns nothing: a no-op
    LockGuard again = co_await lock.scoped();
    LockGuard moved(std::move(again));
    EXPECT_TRUE(lock.locked());
  };
  run_bounded(loop, moving());
  EXPECT_FALSE(lock.locked());
}

TEST(LockTest, AGuardWhoseLockWasReleasedBehindItsBackLogsInsteadOfThrowing) {
  EventLoop loop;
  Lock lock;
  LogCapture logs;
  auto body = [&]() -> Coro<void> {
    LockGuard guard = co_await lock.scoped();
    lock.release();
  };
  run_bounded(loop, body());
  EXPECT_FALSE(lock.locked());
  std::vector<LogCapture::Record> records = logs.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::kError);
  EXPECT_NE(records[0].message.find("Lock is not acquired."), std::string::npos)
      << records[0].message;
}

TEST(LockTest, CancellingTheHolderReleasesThroughTheGuardAndTheNextWaiterRuns) {
  EventLoop loop;
  Lock lock;
  Strings order;
  auto holder = [&]() -> Coro<void> {
    LockGuard guard = co_await lock.scoped();
    order.push_back("holder-in");
    co_await sleep(3600);
  };
  auto next = [&]() -> Coro<void> {
    LockGuard guard = co_await lock.scoped();
    order.push_back("next-in");
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    Task<void> h = running.create_task(holder());
    Task<void> n = running.create_task(next());
    co_await yields(2);
    h.cancel();
    EXPECT_TRUE(co_await ends_cancelled(h));
    co_await n;
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "holder-in next-in");
  EXPECT_FALSE(lock.locked());
}

// On virtual time: the timeout fires at exactly 0.01 and costs no real time.
TEST(LockTest, WaitForTimeoutOnAcquireLeavesTheLineClean) {
  EventLoop loop(::aio::testing::virtual_time());
  Lock lock;
  auto body = [&]() -> Coro<std::string> {
    co_await lock.acquire();
    std::string outcome = "acquired";
    try {
      co_await wait_for(lock.acquire(), 0.01);
    } catch (const TimeoutError&) {
      outcome = "timeout@" + std::to_string(loop.time());
    }
    outcome += " " + lock.repr();
    lock.release();
    co_return outcome;
  };
  EXPECT_EQ(run_bounded(loop, body()), "timeout@0.010000 <aio::Lock [locked]>");
  EXPECT_FALSE(lock.locked());
}

TEST(LockTest, BindsToTheFirstLoopThatMustWait) {
  Lock lock;
  auto contend = [&]() -> Coro<void> {
    co_await lock.acquire();
    Task<void> waiter = get_running_loop().create_task(lock.acquire());
    co_await sleep(0);
    lock.release();
    co_await waiter;
    lock.release();
  };
  {
    EventLoop first;
    run_bounded(first, contend());
  }
  EventLoop second;
  // Uncontended use never needs the loop, so it still works.
  auto uncontended = [&]() -> Coro<void> {
    co_await lock.acquire();
    lock.release();
  };
  run_bounded(second, uncontended());
  EXPECT_EQ(error_message([&] { run_bounded(second, contend()); }),
            "<aio::Lock [locked]> is bound to a different event loop");
  EXPECT_FALSE(lock.locked());  // contend() released it before its waiter's error surfaced
}

TEST(LockTest, DestroyingALockWhileATaskWaitsOnItIsSafe) {
  EventLoop loop;
  auto lock = std::make_unique<Lock>();
  auto main_coro = [&]() -> Coro<void> {
    co_await lock->acquire();
    Task<void> waiter = get_running_loop().create_task(lock->acquire());
    co_await yields(2);
    lock.reset();  // the waiter's bookkeeping survives the Lock
    waiter.cancel();
    EXPECT_TRUE(co_await ends_cancelled(waiter));
  };
  run_bounded(loop, main_coro());
}

TEST(LockTest, AWaitingTaskAbandonedAtLoopCloseLeavesTheLine) {
  Lock lock;
  LogCapture logs;  // "Task was destroyed but it is pending!"
  {
    EventLoop loop;
    auto hold = [&]() -> Coro<void> { co_await lock.acquire(); };
    run_bounded(loop, hold());
    Task<void> waiter = loop.create_task(lock.acquire());
    loop.run_until_complete(yields(2));
    EXPECT_EQ(lock.repr(), "<aio::Lock [locked, waiters:1]>");
    loop.close();
    EXPECT_EQ(lock.repr(), "<aio::Lock [locked]>");
  }
  lock.release();
  EXPECT_FALSE(lock.locked());
}

// --- Event ------------------------------------------------------------------------------------

TEST(EventTest, SetClearIsSetAndRepr) {
  Event event;
  EXPECT_FALSE(event.is_set());
  EXPECT_EQ(event.repr(), "<aio::Event [unset]>");
  event.set();
  EXPECT_TRUE(event.is_set());
  EXPECT_EQ(event.repr(), "<aio::Event [set]>");
  event.set();  // idempotent
  EXPECT_TRUE(event.is_set());
  event.clear();
  EXPECT_FALSE(event.is_set());
}

TEST(EventTest, WaitOnASetEventReturnsTrueAtOnceWithoutSuspending) {
  EventLoop loop;
  Event event;
  event.set();
  auto body = [&]() -> Coro<bool> {
    bool other_ran = false;
    get_running_loop().call_soon([&] { other_ran = true; });
    bool result = co_await event.wait();
    bool suspended = other_ran;
    co_await sleep(0);
    co_return result && !suspended;
  };
  EXPECT_TRUE(run_bounded(loop, body()));
}

constexpr const char* kEventWakesAll = R"py(
import asyncio
order = []
async def waiter(event, name):
    order.append(name + "-wait")
    result = await event.wait()
    order.append(name + "-" + str(result).lower())
async def main():
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    tasks = [asyncio.create_task(waiter(event, n)) for n in ("a", "b", "c")]
    await asyncio.sleep(0)
    loop.call_soon(lambda: order.append("soon"))
    event.set()
    event.clear()
    order.append("set-clear")
    for t in tasks:
        await t
    order.append("is_set=" + str(event.is_set()).lower())
asyncio.run(main())
print(" ".join(order))
)py";

TEST(EventTest, SetWakesEveryWaiterEvenIfClearedRightAfterLikeCPython) {
  EventLoop loop;
  Event event;
  Strings order;
  auto waiter = [&](std::string name) -> Coro<void> {
    order.push_back(name + "-wait");
    bool result = co_await event.wait();
    order.push_back(name + "-" + bool_text(result));
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks{running.create_task(waiter("a")),
                                  running.create_task(waiter("b")),
                                  running.create_task(waiter("c"))};
    co_await sleep(0);
    EXPECT_EQ(event.repr(), "<aio::Event [unset, waiters:3]>");
    running.call_soon([&] { order.push_back("soon"); });
    event.set();
    event.clear();
    order.push_back("set-clear");
    for (Task<void>& task : tasks) co_await task;
    order.push_back("is_set=" + bool_text(event.is_set()));
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "a-wait b-wait c-wait set-clear soon a-true b-true c-true is_set=false");
  EXPECT_EQ(event.repr(), "<aio::Event [unset]>");
  ::aio::testing::expect_same_as_cpython(join(order), kEventWakesAll);
}

TEST(EventTest, ACancelledWaiterLeavesAndTheOthersStillWake) {
  EventLoop loop;
  Event event;
  Strings order;
  auto waiter = [&](std::string name) -> Coro<void> {
    try {
      co_await event.wait();
    } catch (const CancelledError&) {
      order.push_back(name + "-cancelled");
      throw;
    }
    order.push_back(name + "-woke");
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    Task<void> a = running.create_task(waiter("a"));
    Task<void> b = running.create_task(waiter("b"));
    co_await sleep(0);
    a.cancel();
    EXPECT_TRUE(co_await ends_cancelled(a));
    EXPECT_EQ(event.repr(), "<aio::Event [unset, waiters:1]>");
    event.set();
    co_await b;
    // Cancelled after being woken: the wait ends cancelled, nothing else changes.
    event.clear();
    Task<void> c = running.create_task(waiter("c"));
    co_await sleep(0);
    event.set();
    c.cancel();
    EXPECT_TRUE(co_await ends_cancelled(c));
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "a-cancelled b-woke c-cancelled");
  EXPECT_EQ(event.repr(), "<aio::Event [set]>");
}

// On virtual time, as LockTest.WaitForTimeoutOnAcquireLeavesTheLineClean.
TEST(EventTest, WaitForTimesOutOnAnEventNobodySets) {
  EventLoop loop(::aio::testing::virtual_time());
  Event event;
  auto body = [&]() -> Coro<std::string> {
    try {
      co_await wait_for(event.wait(), 0.01);
    } catch (const TimeoutError&) {
      co_return "timeout@" + std::to_string(loop.time()) + " " + event.repr();
    }
    co_return "woke";
  };
  EXPECT_EQ(run_bounded(loop, body()), "timeout@0.010000 <aio::Event [unset]>");
}

// --- Condition --------------------------------------------------------------------------------

TEST(ConditionTest, WaitAndNotifyNeedTheLock) {
  EventLoop loop;
  Condition cond;
  EXPECT_EQ(error_message([&] { run_bounded(loop, cond.wait()); }),
            "cannot wait on un-acquired lock");
  EXPECT_EQ(error_message([&] { cond.notify(); }), "cannot notify on un-acquired lock");
  EXPECT_EQ(error_message([&] { cond.notify(3); }), "cannot notify on un-acquired lock");
  EXPECT_EQ(error_message([&] { cond.notify_all(); }), "cannot notify on un-acquired lock");
  EXPECT_THROW(cond.notify(), RuntimeError);
  EXPECT_EQ(error_message([&] { cond.release(); }), "Lock is not acquired.");
  EXPECT_EQ(cond.repr(), "<aio::Condition [unlocked]>");
}

TEST(ConditionTest, AcquireReleaseDelegateToTheLockWhichMayBeShared) {
  EventLoop loop;
  Lock lock;
  Condition first(lock);
  Condition second(lock);
  auto body = [&]() -> Coro<void> {
    co_await first.acquire();
    EXPECT_TRUE(lock.locked());
    EXPECT_TRUE(second.locked());
    EXPECT_EQ(second.repr(), "<aio::Condition [locked]>");
    second.notify();  // held through the shared lock
    second.release();
    EXPECT_FALSE(first.locked());
    {
      ConditionGuard guard = co_await second.scoped();
      EXPECT_TRUE(lock.locked());
    }
    EXPECT_FALSE(lock.locked());
  };
  run_bounded(loop, body());
}

constexpr const char* kConditionNotifyTwo = R"py(
import asyncio
order = []
async def waiter(cond, name):
    async with cond:
        order.append(name + "-wait")
        result = await cond.wait()
        order.append(name + "-" + str(result).lower())
async def main():
    cond = asyncio.Condition()
    tasks = [asyncio.create_task(waiter(cond, n)) for n in ("a", "b", "c")]
    await asyncio.sleep(0)
    async with cond:
        cond.notify(2)
        order.append("notified")
    await asyncio.sleep(0)
    order.append("main")
    await asyncio.sleep(0)
    order.append("main2")
    async with cond:
        cond.notify_all()
        order.append("notified-all")
    for t in tasks:
        await t
    order.append("locked=" + str(cond.locked()).lower())
asyncio.run(main())
print(" ".join(order))
)py";

TEST(ConditionTest, NotifyTwoOfThreeThenNotifyAllLikeCPython) {
  EventLoop loop;
  Condition cond;
  Strings order;
  auto waiter = [&](std::string name) -> Coro<void> {
    ConditionGuard guard = co_await cond.scoped();
    order.push_back(name + "-wait");
    bool result = co_await cond.wait();
    order.push_back(name + "-" + bool_text(result));
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks{running.create_task(waiter("a")),
                                  running.create_task(waiter("b")),
                                  running.create_task(waiter("c"))};
    co_await sleep(0);
    EXPECT_EQ(cond.repr(), "<aio::Condition [unlocked, waiters:3]>");
    {
      ConditionGuard guard = co_await cond.scoped();
      cond.notify(2);
      order.push_back("notified");
    }
    co_await sleep(0);
    order.push_back("main");
    co_await sleep(0);
    order.push_back("main2");
    {
      ConditionGuard guard = co_await cond.scoped();
      cond.notify_all();
      order.push_back("notified-all");
    }
    for (Task<void>& task : tasks) co_await task;
    order.push_back("locked=" + bool_text(cond.locked()));
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order),
            "a-wait b-wait c-wait notified a-true b-true main main2 notified-all c-true "
            "locked=false");
  ::aio::testing::expect_same_as_cpython(join(order), kConditionNotifyTwo);
}

TEST(ConditionTest, NotifyWakesAtMostNStillWaitingTasksInFifoOrder) {
  EventLoop loop;
  Condition cond;
  Strings order;
  auto waiter = [&](std::string name) -> Coro<void> {
    ConditionGuard guard = co_await cond.scoped();
    co_await cond.wait();
    order.push_back(name);
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks;
    for (const char* name : {"a", "b", "c", "d"})
      tasks.push_back(running.create_task(waiter(name)));
    co_await sleep(0);
    co_await cond.acquire();
    cond.notify(1);
    cond.notify(1);  // the first one is already notified: this one goes to b
    cond.notify(0);
    cond.notify(-1);
    cond.release();
    co_await yields(4);
    EXPECT_EQ(join(order), "a b");
    co_await cond.acquire();
    cond.notify(10);
    cond.release();
    for (Task<void>& task : tasks) co_await task;
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "a b c d");
}

TEST(ConditionTest, WaitForChecksThePredicateFirstAndAfterEachWakeUp) {
  EventLoop loop;
  Condition cond;
  int items = 0;
  int checks = 0;
  auto consumer = [&]() -> Coro<int> {
    ConditionGuard guard = co_await cond.scoped();
    int got = co_await cond.wait_for([&] {
      ++checks;
      return items >= 3 ? items : 0;
    });
    EXPECT_TRUE(cond.locked());
    co_return got;
  };
  auto main_coro = [&]() -> Coro<int> {
    Task<int> c = get_running_loop().create_task(consumer());
    for (int i = 0; i < 4; ++i) {
      co_await yields(3);
      ConditionGuard guard = co_await cond.scoped();
      ++items;
      cond.notify();
    }
    co_return co_await c;
  };
  EXPECT_EQ(run_bounded(loop, main_coro()), 3);
  EXPECT_EQ(checks, 4);
  EXPECT_FALSE(cond.locked());

  // A predicate that holds already returns without waiting (asyncio does not check the lock
  // then either).
  auto ready = [&]() -> Coro<bool> { co_return co_await cond.wait_for([] { return true; }); };
  EXPECT_TRUE(run_bounded(loop, ready()));
  // One that does not needs the lock.
  auto not_ready = [&]() -> Coro<bool> { co_return co_await cond.wait_for([] { return false; }); };
  EXPECT_EQ(error_message([&] { run_bounded(loop, not_ready()); }),
            "cannot wait on un-acquired lock");
}

// A waiter for the condition is cancelled while someone else holds the lock: it has to wait
// for the lock before CancelledError propagates.
TEST(ConditionTest, WaitCancelledWhileWaitingReacquiresTheLockFirst) {
  EventLoop loop;
  Lock lock;
  Condition cond(lock);
  Strings order;
  auto waiter = [&]() -> Coro<void> {
    co_await cond.acquire();
    bool cancelled = false;
    try {
      co_await cond.wait();
    } catch (const CancelledError&) {
      cancelled = true;
    }
    order.push_back(std::string(cancelled ? "cancelled" : "notified") +
                    (cond.locked() ? "-locked" : "-unlocked"));
    cond.release();
    if (cancelled) throw CancelledError();
  };
  auto main_coro = [&]() -> Coro<void> {
    Task<void> w = get_running_loop().create_task(waiter());
    co_await yields(2);
    EXPECT_FALSE(lock.locked());  // wait() released it
    EXPECT_EQ(cond.repr(), "<aio::Condition [unlocked, waiters:1]>");
    co_await lock.acquire();
    w.cancel();
    co_await yields(3);
    EXPECT_TRUE(order.empty());  // stuck re-acquiring
    EXPECT_EQ(lock.repr(), "<aio::Lock [locked, waiters:1]>");
    EXPECT_EQ(cond.repr(), "<aio::Condition [locked]>");
    order.push_back("main-release");
    lock.release();
    EXPECT_TRUE(co_await ends_cancelled(w));
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "main-release cancelled-locked");
  EXPECT_FALSE(lock.locked());
}

// The waiter was notified and is waiting to re-acquire the lock when it is cancelled (once while
// its lock future is pending, once right after it was woken for the lock): it keeps trying,
// gets the lock, and only then raises CancelledError.
TEST(ConditionTest, WaitCancelledWhileReacquiringStillReacquires) {
  for (bool cancel_after_lock_wake : {false, true}) {
    SCOPED_TRACE(cancel_after_lock_wake ? "cancelled after the lock woke it" : "while waiting");
    EventLoop loop;
    Lock lock;
    Condition cond(lock);
    Strings order;
    auto waiter = [&]() -> Coro<void> {
      co_await cond.acquire();
      bool cancelled = false;
      try {
        co_await cond.wait();
      } catch (const CancelledError&) {
        cancelled = true;
      }
      order.push_back(std::string(cancelled ? "cancelled" : "notified") +
                      (cond.locked() ? "-locked" : "-unlocked"));
      cond.release();
      if (cancelled) throw CancelledError();
    };
    auto main_coro = [&]() -> Coro<void> {
      Task<void> w = get_running_loop().create_task(waiter());
      co_await yields(2);
      co_await lock.acquire();
      cond.notify();
      co_await yields(3);
      EXPECT_EQ(lock.repr(), "<aio::Lock [locked, waiters:1]>");  // notified, re-acquiring
      if (cancel_after_lock_wake) {
        order.push_back("main-release");
        lock.release();
        w.cancel();
      } else {
        w.cancel();
        co_await yields(3);
        EXPECT_TRUE(order.empty());
        EXPECT_EQ(lock.repr(), "<aio::Lock [locked, waiters:1]>");  // back in line
        order.push_back("main-release");
        lock.release();
      }
      EXPECT_TRUE(co_await ends_cancelled(w));
    };
    run_bounded(loop, main_coro());
    EXPECT_EQ(join(order), "main-release cancelled-locked");
    EXPECT_FALSE(lock.locked());
  }
}

// Notified, then cancelled before it could run: the notification goes to the next waiter
// (asyncio 3.13's fix; 3.8 lost it and left b waiting forever).
TEST(ConditionTest, ANotifiedWaiterThatIsCancelledPassesTheNotificationOn) {
  EventLoop loop;
  Condition cond;
  Strings order;
  auto waiter = [&](std::string name) -> Coro<void> {
    co_await cond.acquire();
    bool cancelled = false;
    try {
      co_await cond.wait();
    } catch (const CancelledError&) {
      cancelled = true;
    }
    order.push_back(name + (cancelled ? "-cancelled" : "-notified"));
    cond.release();
    if (cancelled) throw CancelledError();
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    Task<void> a = running.create_task(waiter("a"));
    Task<void> b = running.create_task(waiter("b"));
    Task<void> c = running.create_task(waiter("c"));
    co_await yields(2);
    co_await cond.acquire();
    cond.notify();
    a.cancel();
    cond.release();
    EXPECT_TRUE(co_await ends_cancelled(a));
    co_await b;
    co_await yields(3);
    EXPECT_EQ(cond.repr(), "<aio::Condition [unlocked, waiters:1]>");  // c: no spurious wake-up
    c.cancel();  // cancelled before any notification: passes nothing on
    EXPECT_TRUE(co_await ends_cancelled(c));
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "a-cancelled b-notified c-cancelled");
  EXPECT_FALSE(cond.locked());
}

// --- Semaphore --------------------------------------------------------------------------------

TEST(SemaphoreTest, NegativeInitialValueIsAValueError) {
  EXPECT_EQ(error_message([] { Semaphore semaphore(-1); }), "Semaphore initial value must be >= 0");
  EXPECT_EQ(error_message([] { BoundedSemaphore semaphore(-3); }),
            "Semaphore initial value must be >= 0");
  EXPECT_THROW(Semaphore(-1), ValueError);
  Semaphore zero(0);
  EXPECT_TRUE(zero.locked());
}

TEST(SemaphoreTest, CountsPermitsAndWaitsWhenNoneIsLeft) {
  EventLoop loop;
  Semaphore semaphore(2);
  Strings order;
  EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [unlocked, value:2]>");
  auto third = [&]() -> Coro<void> {
    co_await semaphore.acquire();
    order.push_back("third-in");
  };
  auto main_coro = [&]() -> Coro<void> {
    bool other_ran = false;
    get_running_loop().call_soon([&] { other_ran = true; });
    co_await semaphore.acquire();
    EXPECT_FALSE(semaphore.locked());
    EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [unlocked, value:1]>");
    co_await semaphore.acquire();
    EXPECT_FALSE(other_ran);  // neither acquire suspended
    EXPECT_TRUE(semaphore.locked());
    Task<void> t = get_running_loop().create_task(third());
    co_await yields(2);
    EXPECT_TRUE(order.empty());
    EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [locked, waiters:1]>");
    order.push_back("release");
    semaphore.release();
    EXPECT_TRUE(semaphore.locked());  // the permit went straight to the waiter
    co_await t;
    semaphore.release();
    semaphore.release();
    EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [unlocked, value:2]>");
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "release third-in");
}

TEST(SemaphoreTest, APlainSemaphoreMayBeReleasedAboveItsInitialValue) {
  EventLoop loop;
  Semaphore semaphore(1);
  semaphore.release();
  EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [unlocked, value:2]>");
  auto body = [&]() -> Coro<void> {
    co_await semaphore.acquire();
    co_await semaphore.acquire();
    EXPECT_TRUE(semaphore.locked());
  };
  run_bounded(loop, body());
}

TEST(SemaphoreTest, BoundedSemaphoreRefusesToBeReleasedTooManyTimes) {
  EventLoop loop;
  BoundedSemaphore semaphore(2);
  EXPECT_EQ(semaphore.repr(), "<aio::BoundedSemaphore [unlocked, value:2]>");
  EXPECT_EQ(error_message([&] { semaphore.release(); }),
            "BoundedSemaphore released too many times");
  EXPECT_THROW(semaphore.release(), ValueError);
  EXPECT_EQ(semaphore.repr(), "<aio::BoundedSemaphore [unlocked, value:2]>");
  auto body = [&]() -> Coro<void> {
    co_await semaphore.acquire();
    {
      SemaphoreGuard guard = co_await semaphore.scoped();
      EXPECT_TRUE(semaphore.locked());
    }
    semaphore.release();
    EXPECT_EQ(error_message([&] { semaphore.release(); }),
              "BoundedSemaphore released too many times");
  };
  run_bounded(loop, body());
  EXPECT_EQ(semaphore.repr(), "<aio::BoundedSemaphore [unlocked, value:2]>");
  BoundedSemaphore default_one;
  EXPECT_EQ(error_message([&] { default_one.release(); }),
            "BoundedSemaphore released too many times");
}

TEST(SemaphoreTest, WaitersAreServedInArrivalOrderAndNewcomersCannotBargeIn) {
  EventLoop loop;
  Semaphore semaphore(1);
  Strings order;
  auto worker = [&](std::string name, int delay) -> Coro<void> {
    co_await yields(delay);
    SemaphoreGuard guard = co_await semaphore.scoped();
    order.push_back(name);
    co_await sleep(0);
  };
  auto main_coro = [&]() -> Coro<void> {
    co_await semaphore.acquire();
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks{running.create_task(worker("a", 2)),
                                  running.create_task(worker("b", 0)),
                                  running.create_task(worker("c", 1))};
    co_await yields(4);
    EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [locked, waiters:3]>");
    semaphore.release();
    co_await semaphore.acquire();  // a newcomer: behind the three
    order.push_back("main");
    semaphore.release();
    for (Task<void>& task : tasks) co_await task;
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "b c a main");
  EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [unlocked, value:1]>");
}

TEST(SemaphoreTest, CancellationAtEveryPointKeepsThePermitsRight) {
  EventLoop loop;
  Semaphore semaphore(1);
  Strings order;
  auto worker = [&](std::string name) -> Coro<void> {
    try {
      co_await semaphore.acquire();
    } catch (const CancelledError&) {
      order.push_back(name + "-cancelled");
      throw;
    }
    order.push_back(name + "-in");
    co_await sleep(0);
    semaphore.release();
  };
  auto main_coro = [&]() -> Coro<void> {
    co_await semaphore.acquire();
    EventLoop& running = get_running_loop();
    Task<void> a = running.create_task(worker("a"));
    Task<void> b = running.create_task(worker("b"));
    Task<void> c = running.create_task(worker("c"));
    Task<void> d = running.create_task(worker("d"));
    co_await yields(2);
    b.cancel();  // while waiting: leaves the line, takes nothing
    co_await yields(2);
    EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [locked, waiters:3]>");
    semaphore.release();  // handed to a...
    a.cancel();           // ...which is cancelled before it runs: c gets it
    EXPECT_TRUE(co_await ends_cancelled(a));
    EXPECT_TRUE(co_await ends_cancelled(b));
    co_await c;
    co_await d;
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order), "b-cancelled a-cancelled c-in d-in");
  EXPECT_EQ(semaphore.repr(), "<aio::Semaphore [unlocked, value:1]>");
}

constexpr const char* kSemaphoreWorkers = R"py(
import asyncio
order = []
async def worker(sem, name):
    try:
        async with sem:
            order.append(name + "-in")
            await asyncio.sleep(0)
            order.append(name + "-out")
    except asyncio.CancelledError:
        order.append(name + "-cancelled")
        raise
async def main():
    sem = asyncio.Semaphore(2)
    tasks = [asyncio.create_task(worker(sem, n)) for n in ("a", "b", "c", "d", "e")]
    await asyncio.sleep(0)
    tasks[3].cancel()
    order.append("main")
    for t in tasks:
        try:
            await t
        except asyncio.CancelledError:
            order.append("main-saw-cancel")
    order.append("locked=" + str(sem.locked()).lower())
asyncio.run(main())
print(" ".join(order))
)py";

TEST(SemaphoreTest, FiveWorkersOnTwoPermitsWithOneCancelledLikeCPython) {
  EventLoop loop;
  Semaphore semaphore(2);
  Strings order;
  auto worker = [&](std::string name) -> Coro<void> {
    try {
      SemaphoreGuard guard = co_await semaphore.scoped();
      order.push_back(name + "-in");
      co_await sleep(0);
      order.push_back(name + "-out");
    } catch (const CancelledError&) {
      order.push_back(name + "-cancelled");
      throw;
    }
  };
  auto main_coro = [&]() -> Coro<void> {
    EventLoop& running = get_running_loop();
    std::vector<Task<void>> tasks;
    for (const char* name : {"a", "b", "c", "d", "e"}) {
      tasks.push_back(running.create_task(worker(name)));
    }
    co_await sleep(0);
    tasks[3].cancel();
    order.push_back("main");
    for (Task<void>& task : tasks) {
      if (co_await ends_cancelled(task)) order.push_back("main-saw-cancel");
    }
    order.push_back("locked=" + bool_text(semaphore.locked()));
  };
  run_bounded(loop, main_coro());
  EXPECT_EQ(join(order),
            "a-in b-in main a-out b-out d-cancelled c-in e-in c-out e-out main-saw-cancel "
            "locked=false");
  ::aio::testing::expect_same_as_cpython(join(order), kSemaphoreWorkers);
}

}  // namespace
}  // namespace aio
