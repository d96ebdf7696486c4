"""A storm names every alert (README.md, "Storms"): 3,000 one-alert
requests over 30 seconds to one DingTalk robot that takes 20 messages a
minute and blocks for ten after that. herald paces its digests over the
window (one per 3 s once the storm is on) and writes them in the compact
form (core/delivery/digest.c): the alerts grouped by name and state,
counted, and every instance listed. So the robot never answers 130101,
and the first 20 messages, all the robot takes in its first minute, name
every one of the 3,000 instances."""

import re
import time

import harness
import test_reliability as reliability

TOTAL = 3000
PER_SECOND = 100


def test_a_storm_of_3000_alerts_names_every_instance_in_the_first_window(
        mock_dingtalk, herald_factory):
    h = reliability.start(herald_factory, {"ops": reliability.ops(mock_dingtalk)})
    instances = ["10.9.%d.%d" % (i // 250, i % 250) for i in range(TOTAL)]
    start = time.monotonic()

    def post_one(i):
        # the load's shape, 100 a second, not a wait for herald
        due = start + i / PER_SECOND
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        a = reliability.alert("HostHighCpuLoad", instance=instances[i],
                              fingerprint="%016x" % (0x30000 + i), severity="critical")
        a["annotations"]["summary"] = "CPU load above 90% on " + instances[i]
        return reliability.post(h, [a], timeout=10)

    answers = harness.post_concurrently(TOTAL, post_one)
    assert len(answers) == TOTAL and all(s == 200 for s, _ in answers), \
        [a for a in answers if a[0] != 200][:5]
    posted_in = time.monotonic() - start

    def named(mock):
        return set(re.findall(r"10\.9\.\d+\.\d+", " ".join(reliability.texts(mock))))
    mock_dingtalk.wait_for(lambda m: len(named(m)) >= TOTAL or m.rejected()
                           or len(m.accepted()) > 20, timeout=90)
    accepted = mock_dingtalk.accepted(harness.T1)
    texts = reliability.texts(mock_dingtalk)
    print("posted in %.1f s; %d messages; instances per message: %s" % (
        posted_in, len(accepted),
        [len(re.findall(r"10\.9\.\d+\.\d+", t)) for t in texts]))
    assert reliability.rejections(mock_dingtalk) == [], "the robot refused: 130101 blocks it"
    first_window = " ".join(texts[:20])
    missing = [i for i in instances if not re.search(re.escape(i) + r"\b", first_window)]
    assert not missing, "%d instances in none of the first 20 messages; first: %s" % (
        len(missing), missing[:10])
    # the compact form: a group heading with its count, the instances listed
    digests = [t for t in texts if "×" in t]
    assert digests, texts[:3]
    assert all(re.search(r"\*\*HostHighCpuLoad 🔥 故障\*\* ×\d+", t) for t in digests), digests[0]
    harness.wait_outbox_empty(h, timeout=30)
