// A threaded Rust program using only std, for tests/programs/rust_test.cpp: its stdout
// must be the same with and without the shim. It prints the OS thread count it saw while
// its threads were alive on stderr, for the test to check the takeover.
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

thread_local! {
    static COUNTER: Cell<u32> = Cell::new(0);
}

fn tasks() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

fn main() {
    // Named threads sending over a channel, each with its own thread_local counter.
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    for i in 0..8u32 {
        let tx = tx.clone();
        handles.push(
            thread::Builder::new()
                .name(format!("worker-{}", i))
                .spawn(move || {
                    for _ in 0..50 {
                        COUNTER.with(|c| c.set(c.get() + 1));
                        thread::sleep(Duration::from_micros(200));
                    }
                    let name = thread::current().name().unwrap().to_string();
                    tx.send((i, name, COUNTER.with(|c| c.get()))).unwrap();
                    i * 10
                })
                .unwrap(),
        );
    }
    drop(tx);
    thread::sleep(Duration::from_millis(2));
    let peak = tasks();
    let mut got: Vec<(u32, String, u32)> = rx.iter().collect();
    got.sort();
    for (i, name, count) in &got {
        println!("channel {} {} {}", i, name, count);
    }
    let sum: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("joined sum {}", sum);
    println!("main counter {}", COUNTER.with(|c| c.get()));

    // park/unpark.
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = flag.clone();
    let parked = thread::spawn(move || {
        while !f2.load(Ordering::Acquire) {
            thread::park();
        }
        "unparked"
    });
    thread::sleep(Duration::from_millis(5));
    flag.store(true, Ordering::Release);
    parked.thread().unpark();
    println!("park {}", parked.join().unwrap());

    // Scoped threads borrowing the stack.
    let mut data = vec![1u64, 2, 3, 4, 5, 6, 7, 8];
    thread::scope(|s| {
        for chunk in data.chunks_mut(2) {
            s.spawn(move || {
                for x in chunk.iter_mut() {
                    *x *= 3;
                }
                thread::sleep(Duration::from_millis(1));
            });
        }
    });
    println!("scope {:?}", data);

    // Mutex + Condvar: a producer/consumer hand-off, 100 items.
    let pair = Arc::new((Mutex::new(Vec::<u32>::new()), Condvar::new()));
    let p2 = pair.clone();
    let consumer = thread::spawn(move || {
        let (lock, cv) = &*p2;
        let mut total = 0u32;
        let mut seen = 0;
        while seen < 100 {
            let mut q = lock.lock().unwrap();
            while q.is_empty() {
                q = cv.wait(q).unwrap();
            }
            while let Some(v) = q.pop() {
                total += v;
                seen += 1;
            }
        }
        total
    });
    for v in 0..100u32 {
        let (lock, cv) = &*pair;
        lock.lock().unwrap().push(v);
        cv.notify_one();
        if v % 10 == 0 {
            thread::sleep(Duration::from_micros(300));
        }
    }
    println!("condvar total {}", consumer.join().unwrap());
    eprintln!("tasks={}", peak);
}
