"""The seeded synthetic world behind the SGD-style toy services.

Venue-like services (restaurants, hotels, movies) have a fixed table per corpus seed;
trip-like services (trains, flights) and the weather compute their rows per query from a
seed derived from the query, so the same query always returns the same rows, in every
dialogue and split. All values are canonical (what ``service_results`` hold).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from tod_lab.data.toy import values as V
from tod_lab.data.toy.sgd_services import AIRLINES, CUISINES, GENRES

Row = dict[str, str]
MAX_RESULTS = 10  # SGD's services return at most 10 results

_PEOPLE = ("Mario's", "Luigi's", "Rosa's", "Chen's", "Kim's", "Maya's", "Sam's", "Lucy's",
           "Tony's", "Ana's", "Nina's", "Omar's")  # fmt: skip
_ADJECTIVES = ("Golden", "Silver", "Blue", "Rustic", "Little", "Green", "Red", "Happy", "Royal",
               "Lucky", "Urban", "Copper", "Olive", "Sunny", "Harbor", "Corner", "Garden",
               "Hidden", "Wild", "Old Town")  # fmt: skip
_CUISINE_NOUNS = {
    "Italian": ("Trattoria", "Pizzeria", "Osteria", "Pasta House"),
    "Chinese": ("Dragon", "Wok", "Dumpling House", "Noodle Bar"),
    "Mexican": ("Taqueria", "Cantina", "Burrito Bar"),
    "Indian": ("Tandoor", "Curry House", "Masala Kitchen"),
    "Thai": ("Thai Kitchen", "Basil", "Orchid"),
    "Japanese": ("Sushi Bar", "Ramen House", "Izakaya"),
    "American": ("Grill", "Diner", "Burger Bar", "Smokehouse"),
}
_HOTEL_FIRST = ("Grand", "Harbor", "Parkview", "Maple", "Riverside", "Summit", "Lakeside",
                "Sunset", "Cedar", "Bayview", "Union", "Highland", "Pacific", "Liberty",
                "Garden", "Crown")  # fmt: skip
_HOTEL_KIND = ("Hotel", "Inn", "Suites", "Lodge", "Plaza Hotel", "Resort")
_MOVIE_ADJ = ("Silent", "Last", "Hidden", "Broken", "Golden", "Dark", "Lost", "Electric",
              "Midnight", "Crimson", "Frozen", "Wild")  # fmt: skip
_MOVIE_NOUN = ("Horizon", "Empire", "Garden", "River", "Signal", "Kingdom", "Echo", "Frontier",
               "Voyage", "Harbor", "Storm", "Secret")  # fmt: skip
_THEATER_CHAINS = ("Regal", "AMC", "Cinemark", "Landmark", "Alamo")
_STATION_KINDS = ("Union Station", "Central Station", "Amtrak Station")


def _quarter_time(rng: random.Random, first_hour: int, last_hour: int) -> str:
    return V.canonical_time(rng.randint(first_hour, last_hour), rng.choice((0, 15, 30, 45)))


class ToyWorld:
    """Every search result of the toy corpus, reproducible from ``seed``."""

    def __init__(self, seed: int):
        self.seed = seed
        rng = random.Random(f"toy-world:{seed}")
        self.tables: dict[str, list[Row]] = {
            "Restaurants_1": self._restaurants(rng, "Restaurants_1"),
            "Restaurants_2": self._restaurants(rng, "Restaurants_2"),
            "Hotels_1": self._hotels(rng),
            "Movies_1": self._movies(rng),
        }
        self._query_builders: dict[str, Callable[[Mapping[str, str]], list[Row]]] = {
            "Trains_1": self._trains,
            "Flights_1": self._flights,
            "Weather_1": self._weather,
        }

    # ------------------------------------------------------------------ queries

    def is_tabular(self, service: str) -> bool:
        return service in self.tables

    def search(self, service: str, constraints: Mapping[str, str]) -> list[Row]:
        """Rows matching every non-dontcare constraint, at most :data:`MAX_RESULTS`."""
        wanted = {k: v for k, v in constraints.items() if v != "dontcare"}
        if service in self.tables:
            rows = self.tables[service]
        else:
            rows = self._query_builders[service](wanted)
        matches = [r for r in rows if all(r.get(k, v) == v for k, v in wanted.items())]
        return matches[:MAX_RESULTS]

    def sample_row(
        self, service: str, rng: random.Random, fixed: Mapping[str, str] | None = None
    ) -> Row | None:
        """A random venue, optionally one matching ``fixed`` (e.g. a carried-over city)."""
        rows = [
            r for r in self.tables[service]
            if all(r.get(k) == v for k, v in (fixed or {}).items())
        ]  # fmt: skip
        return rng.choice(rows) if rows else None

    def find(self, service: str, slot: str, value: str) -> Row | None:
        for row in self.tables.get(service, ()):
            if row.get(slot) == value:
                return row
        return None

    # ------------------------------------------------------------------ venue tables

    def _restaurants(self, rng: random.Random, service: str) -> list[Row]:
        second = service == "Restaurants_2"
        rows: list[Row] = []
        for city in V.CITY_NAMES:
            used: set[str] = set()
            for cuisine in CUISINES:
                for _ in range(rng.randint(2, 4)):
                    name = self._unique(rng, used, lambda c=cuisine: self._restaurant_name(rng, c))
                    if second:
                        rows.append({
                            "restaurant_name": name, "location": city, "category": cuisine,
                            "price_range": rng.choice(("inexpensive", "moderate", "pricey")),
                            "has_vegetarian_options": rng.choice(("True", "False")),
                            "phone_number": V.phone_number(city, rng),
                            "address": V.street_address(rng),
                            "rating": f"{rng.randint(30, 50) / 10:.1f}",
                        })  # fmt: skip
                    else:
                        rows.append({
                            "restaurant_name": name, "city": city, "cuisine": cuisine,
                            "price_range": rng.choice(("cheap", "moderate", "expensive")),
                            "has_live_music": rng.choice(("True", "False", "False")),
                            "phone_number": V.phone_number(city, rng),
                            "street_address": V.street_address(rng),
                        })  # fmt: skip
        return rows

    @staticmethod
    def _restaurant_name(rng: random.Random, cuisine: str) -> str:
        first = rng.choice(_PEOPLE if rng.random() < 0.35 else _ADJECTIVES)
        return f"{first} {rng.choice(_CUISINE_NOUNS[cuisine])}"

    @staticmethod
    def _unique(rng: random.Random, used: set[str], make: Callable[[], str]) -> str:
        for _ in range(50):
            name = make()
            if name not in used:
                used.add(name)
                return name
        raise RuntimeError("toy world: ran out of unique venue names")  # pragma: no cover

    def _hotels(self, rng: random.Random) -> list[Row]:
        rows: list[Row] = []
        for city in V.CITY_NAMES:
            used: set[str] = set()
            for _ in range(rng.randint(6, 9)):
                name = self._unique(
                    rng, used, lambda: f"{rng.choice(_HOTEL_FIRST)} {rng.choice(_HOTEL_KIND)}"
                )
                stars = rng.choice(("1", "2", "3", "3", "4", "4", "5"))
                rows.append({
                    "hotel_name": name, "destination": city, "star_rating": stars,
                    "has_wifi": rng.choice(("True", "True", "False")),
                    "street_address": V.street_address(rng),
                    "phone_number": V.phone_number(city, rng),
                    "price_per_night": str(40 * int(stars) + rng.randint(10, 90)),
                })  # fmt: skip
        return rows

    def _movies(self, rng: random.Random) -> list[Row]:
        titles: list[str] = []
        used: set[str] = set()
        while len(titles) < 40:
            title = f"The {rng.choice(_MOVIE_ADJ)} {rng.choice(_MOVIE_NOUN)}"
            if rng.random() < 0.4:
                title = title.removeprefix("The ")
            if title not in used:
                used.add(title)
                titles.append(title)
        genre_of = {t: rng.choice(GENRES) for t in titles}
        rows: list[Row] = []
        for city in V.CITY_NAMES:
            theaters = [
                f"{rng.choice(_THEATER_CHAINS)} {rng.choice(V.STREETS)} {rng.choice((8, 12, 14, 16))}"
                for _ in range(3)
            ]
            for title in rng.sample(titles, 9):
                rows.append({
                    "movie_name": title, "genre": genre_of[title], "location": city,
                    "theater_name": rng.choice(theaters),
                    "show_type": rng.choice(("regular", "regular", "3d", "imax")),
                })  # fmt: skip
        return rows

    # ------------------------------------------------------------------ per-query rows

    def _query_rng(self, service: str, *key: str) -> random.Random:
        return random.Random(f"toy-world:{self.seed}:{service}:" + "|".join(key))

    @staticmethod
    def _station(city: str) -> str:
        return f"{city} {_STATION_KINDS[sum(map(ord, city)) % len(_STATION_KINDS)]}"

    def _trains(self, query: Mapping[str, str]) -> list[Row]:
        origin, dest, date = query.get("from"), query.get("to"), query.get("date_of_journey")
        if not (origin and dest and date):
            return []
        rng = self._query_rng("Trains_1", origin, dest, date)
        fare_class = query.get("class", "Value")
        base = rng.randint(25, 90) * {"Value": 1, "Flexible": 1.3, "Business": 1.8}[fare_class]
        times = sorted({_quarter_time(rng, 6, 21) for _ in range(rng.randint(3, 7))})
        return [
            {
                "from": origin, "to": dest, "from_station": self._station(origin),
                "to_station": self._station(dest), "date_of_journey": date,
                "journey_start_time": t, "total": str(int(base) + rng.randint(0, 20)),
                "class": fare_class, "number_of_adults": query.get("number_of_adults", "1"),
            }
            for t in times
        ]  # fmt: skip

    def _flights(self, query: Mapping[str, str]) -> list[Row]:
        origin, dest = query.get("origin_city"), query.get("destination_city")
        date = query.get("departure_date")
        if not (origin and dest and date):
            return []
        rng = self._query_rng("Flights_1", origin, dest, date)
        seat = query.get("seating_class", "Economy")
        factor = {"Economy": 1, "Premium Economy": 1.6, "Business": 2.5}[seat]
        times = sorted({_quarter_time(rng, 6, 21) for _ in range(rng.randint(3, 6))})
        return [
            {
                "airlines": query.get("airlines", rng.choice(AIRLINES)), "origin_city": origin,
                "destination_city": dest, "departure_date": date, "outbound_departure_time": t,
                "price": str(int(rng.randint(90, 400) * factor)), "seating_class": seat,
                "number_stops": rng.choice(("0", "0", "1")),
                "passengers": query.get("passengers", "1"),
            }
            for t in times
        ]  # fmt: skip

    def _weather(self, query: Mapping[str, str]) -> list[Row]:
        city, date = query.get("city"), query.get("date", V.canonical_date(1))
        if not city:
            return []
        rng = self._query_rng("Weather_1", city, date)
        return [{
            "city": city, "date": date, "temperature": str(rng.randint(40, 90)),
            "precipitation": str(5 * rng.randint(0, 18)), "humidity": str(rng.randint(20, 90)),
            "wind": str(rng.randint(1, 20)),
        }]  # fmt: skip
