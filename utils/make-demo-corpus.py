#!/usr/bin/env python3
"""Writes the demo corpus: short, simple English stories generated from templates.

The text is made here from a fixed seed and a few hundred words, so it is license-clean and the
same on every machine (Python's random.Random is stable for a given seed). Its bytes are far from
uniform (a byte-level unigram entropy well below ln 256), so a tiny GPT learns it in minutes.

    python3 utils/make-demo-corpus.py -o data/demo/corpus.txt
    python3 utils/make-shards.py data/demo/corpus.txt
"""
import argparse
import random
import sys

NAMES = ["Anna", "Ben", "Clara", "David", "Ella", "Finn", "Grace", "Hugo", "Iris", "Jack",
         "Kate", "Leo", "Mia", "Noah", "Olive", "Paul", "Rosa", "Sam", "Tess", "Victor",
         "Wendy", "Max", "Lily", "Tom", "Nora", "Oscar", "Ruby", "Theo", "Zoe", "Milo"]
ANIMALS = ["cat", "dog", "fox", "owl", "rabbit", "horse", "duck", "mouse", "bear", "goat",
           "frog", "bird", "sheep", "pig", "deer", "hen"]
PLACES = ["the park", "the garden", "the forest", "the river", "the village", "the market",
          "the old house", "the hill", "the beach", "the farm", "the school", "the library",
          "the bakery", "the lake", "the meadow", "the bridge", "the harbor", "the castle"]
OBJECTS = ["a red ball", "a small box", "a blue kite", "an old map", "a shiny key", "a book",
           "a basket of apples", "a wooden boat", "a green hat", "a loaf of bread", "a lamp",
           "a paper bird", "a silver coin", "a warm blanket", "a jar of honey", "a drum",
           "a yellow flower", "a long rope", "a music box", "a bag of seeds"]
ADJECTIVES = ["happy", "sad", "tired", "brave", "curious", "quiet", "kind", "shy", "hungry",
              "clever", "busy", "sleepy", "proud", "gentle", "worried", "cheerful"]
WEATHER = ["The sun was warm", "It was raining softly", "The wind was cold",
           "Snow covered the ground", "The sky was clear and blue", "Clouds moved over the hills",
           "It was a bright morning", "The evening was calm"]
TIMES = ["One morning", "Later that day", "In the afternoon", "That evening", "The next day",
         "After lunch", "Before dinner", "On a sunny day", "Early one spring", "Late at night"]
VERBS_PAST = ["walked to", "ran to", "went to", "hurried to", "wandered to", "came back to",
              "looked around", "waited near", "sat down in", "played in"]
ACTIONS = ["found", "lost", "carried", "painted", "fixed", "shared", "hid", "dropped",
           "picked up", "gave away", "cleaned", "opened"]
FEELINGS = ["felt happy", "felt a little sad", "smiled", "laughed", "sighed", "nodded",
            "was surprised", "felt proud", "was very glad", "thought for a while"]
SAYS = ["said", "asked", "whispered", "shouted", "answered", "called"]
QUESTIONS = ["Where are you going?", "Can you help me?", "What is in the box?",
             "Do you want to play?", "Have you seen my {animal}?", "Is it time to go home?",
             "Why are you {adj}?", "Can we go to {place} together?", "What should we do now?"]
REPLIES = ["Yes, of course.", "I do not know.", "Let us look together.", "Not today, maybe tomorrow.",
           "I am going to {place}.", "It is a secret.", "I think it is over there.",
           "Thank you, my friend.", "Come with me, it will be fun.", "I will help you."]
ENDINGS = ["In the end, everyone was happy.", "They went home and had a warm supper.",
           "From that day on, they were good friends.", "And that is how the day ended.",
           "{name} slept well that night.", "It was the best day of the summer.",
           "They promised to meet again soon.", "The {animal} followed them all the way home."]


def fill(rng, text, cast, pet):
    return text.format(name=rng.choice(cast), animal=pet,
                       place=rng.choice(PLACES), adj=rng.choice(ADJECTIVES),
                       obj=rng.choice(OBJECTS))


def story(rng):
    cast = rng.sample(NAMES, 2)
    a, b = cast
    pet = rng.choice(ANIMALS)
    place = rng.choice(PLACES)
    lines = []
    lines.append("%s, %s and a %s %s lived near %s." % (a, b, rng.choice(ADJECTIVES), pet, place))
    lines.append("%s." % rng.choice(WEATHER))
    for _ in range(rng.randint(3, 7)):
        kind = rng.random()
        who = rng.choice(cast)
        other = b if who == a else a
        if kind < 0.3:
            lines.append("%s, %s %s %s." % (rng.choice(TIMES), who, rng.choice(VERBS_PAST),
                                            rng.choice(PLACES)))
        elif kind < 0.55:
            lines.append("%s %s %s and %s." % (who, rng.choice(ACTIONS), rng.choice(OBJECTS),
                                               rng.choice(FEELINGS)))
        elif kind < 0.8:
            question = fill(rng, rng.choice(QUESTIONS), cast, pet)
            reply = fill(rng, rng.choice(REPLIES), cast, pet)
            if reply.endswith("."):
                reply = reply[:-1] + ","
            lines.append('"%s" %s %s. "%s" %s %s.' % (question, who, rng.choice(["asked", "said"]),
                                                      reply, other, rng.choice(SAYS)))
        else:
            lines.append("The %s was %s, so %s %s." % (pet, rng.choice(ADJECTIVES), who,
                                                      rng.choice(FEELINGS)))
    lines.append(fill(rng, rng.choice(ENDINGS), cast, pet))
    return " ".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default="data/demo/corpus.txt")
    parser.add_argument("--bytes", type=int, default=400_000, help="approximate size (default 400,000)")
    parser.add_argument("--seed", type=int, default=20240520)
    args = parser.parse_args()
    if args.bytes <= 0:
        parser.error("--bytes: expected a positive integer, found %d" % args.bytes)
    rng = random.Random(args.seed)
    parts, size = [], 0
    while size < args.bytes:
        text = story(rng) + "\n\n"
        parts.append(text)
        size += len(text.encode("utf-8"))
    try:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(parts))
    except OSError as e:
        sys.exit("error: %s: cannot write: %s" % (args.output, e.strerror))
    print("%s: %d stories, %d bytes" % (args.output, len(parts), size))


if __name__ == "__main__":
    main()
