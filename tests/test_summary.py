import pytest

from ferops.recording.summary import UNCERTAIN, Observation, observations, summarise_people
from ferops.core.fer2013 import VALENCE_OF


def obs(person, labels, step=0.5, conf=0.9, start=0.0):
    return [
        Observation(start + i * step, person, label, conf, VALENCE_OF[label], conf) for i, label in enumerate(labels)
    ]


def test_each_person_is_summarised_apart():
    """A sad patient beside a smiling therapist stays sad: no face speaks for another."""
    people = summarise_people(obs(0, ["sad"] * 10) + obs(1, ["happy"] * 10))
    assert people[0]["share"]["sad"] == 1.0 and people[0]["share"]["happy"] == 0.0
    assert people[1]["share"]["happy"] == 1.0
    assert people[0]["seconds_seen"] == 5.0


def test_low_confidence_is_uncertain_not_a_label():
    o = obs(0, ["happy"] * 4) + obs(0, ["angry"] * 4, conf=0.3, start=2.0)
    s = summarise_people(o)[0]
    assert s["share"]["angry"] == 0.0 and s["share"][UNCERTAIN] == 0.5
    assert s["uncertain_stretches"] == [{"label": UNCERTAIN, "start_t": 2.0, "end_t": 4.0, "seconds": 2.0}]


def test_longest_stretch_and_marked_changes_in_recording_time():
    o = obs(0, ["neutral"] * 6 + ["happy"] * 8 + ["neutral"] * 2, start=10.0)
    s = summarise_people(o)[0]
    assert s["longest"]["happy"] == {"label": "happy", "start_t": 13.0, "end_t": 17.0, "seconds": 4.0}
    # neutral -> happy is marked (both last >= 2 s); the last 1 s of neutral is too short to count
    assert s["changes"] == [{"t": 13.0, "from": "neutral", "to": "happy"}]
    assert s["first_t"] == 10.0 and s["last_t"] == 18.0


def test_time_away_is_not_counted():
    o = obs(0, ["happy"] * 4) + obs(0, ["happy"] * 4, start=30.0)
    s = summarise_people(o)[0]
    assert s["seconds_seen"] == pytest.approx(4.0)
    assert len([r for r in [s["longest"]["happy"]]]) == 1 and s["longest"]["happy"]["seconds"] == 2.0


def test_observations_from_log_records():
    records = [{"t": 0.0, "faces": [{"id": 3, "label": "sad", "confidence": 0.7}, {"id": 4, "label": "fear",
                                                                                      "confidence": 0.2}]}]
    assert observations(records) == [
        Observation(0.0, 3, "sad", 0.7, "negative", 0.7),
        Observation(0.0, 4, "fear", 0.2, "negative", 0.2),
    ]


def test_valence_is_summed_from_the_probabilities_and_leads_where_the_emotion_is_unsure():
    """Fear 0.3, sad 0.3, angry 0.2: no emotion reaches 50 %, but 80 % of the face is negative."""
    probs = {"angry": 0.2, "disgust": 0.0, "fear": 0.3, "happy": 0.05, "sad": 0.3, "surprise": 0.0, "neutral": 0.15}
    face = {"id": 0, "label": "fear", "confidence": 0.3, "probs": probs}
    records = [{"t": i * 0.5, "faces": [face]} for i in range(4)]
    (o, *_) = observations(records)
    assert o.valence == "negative" and o.valence_confidence == pytest.approx(0.8)
    s = summarise_people(observations(records))[0]
    assert s["share"][UNCERTAIN] == 1.0, "each emotion is unsure"
    assert s["valence_share"]["negative"] == 1.0 and s["valence_share"][UNCERTAIN] == 0.0
    assert s["valence_timeline"] == [{"label": "negative", "start_t": 0.0, "end_t": 2.0, "seconds": 2.0}]
    logged = {**records[0]["faces"][0], "valence": {"label": "neutral", "confidence": 0.6, "probs": {}}}
    assert observations([{"t": 0.0, "faces": [logged]}])[0].valence == "neutral", "as logged, when it is"
