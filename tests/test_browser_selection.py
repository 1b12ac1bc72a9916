"""Box and lasso selection as a person makes it, in headless Chromium: the data map of
the Scores page and the t-SNE of the Map page, the toolbar's tool chosen, a drag over
the points; the images and class counts of the selection must appear, with no
traceback. plotly.js sends the event in its typed-array encoding, which only a real
browser produces (tests/test_selection.py checks the decoding itself)."""
import time

import pytest

from helpers import env_restored, job_once, seed_store
from test_e2e_browser import PROBLEMS_JS, _chrome, _page_drawn, _screenshot, _serve, _wait, pytestmark  # noqa: F401

SELECTED_JS = """
return [...document.querySelectorAll('[data-testid="stMarkdownContainer"] strong')]
    .map(e => e.innerText).filter(t => / selected$/.test(t));
"""
IMAGES_JS = "return document.querySelectorAll('[data-testid=\"stImage\"] img, [data-testid=\"stFullScreenFrame\"] img').length;"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the module over a store with a finished digits run and its t-SNE."""
    from dashboard.analysis_ui import experiment_config
    tmp = tmp_path_factory.mktemp("selection")
    with env_restored():
        store, job_id = seed_store(tmp / "runs")
        job_once(store, "embed", experiment_config(store.get_job(job_id), perplexity=30.0, n_iter=500,
                                                   early_iter=250))
    with _serve(tmp / "runs", tmp / "server.log") as url, _chrome(tmp / "profile") as driver:
        yield url, job_id, driver


def _select(driver, chart_key: str, tool: str) -> None:
    """Choose `tool` ("Box Select" or "Lasso Select") on the chart's toolbar and drag
    across most of its plot area, as a mouse does."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    chart = driver.find_element(By.CSS_SELECTOR, f".st-key-{chart_key} .js-plotly-plot")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    area = chart.find_element(By.CSS_SELECTOR, ".nsewdrag")
    ActionChains(driver).move_to_element(area).perform()  # the toolbar shows on hover
    button = chart.find_element(By.CSS_SELECTOR, f'.modebar-btn[data-title="{tool}"]')
    ActionChains(driver).move_to_element(button).click().perform()
    w, h = area.size["width"], area.size["height"]
    drag = ActionChains(driver).move_to_element_with_offset(area, int(-0.45 * w), int(-0.45 * h)).click_and_hold()
    if tool == "Lasso Select":  # a loop around most of the area
        for dx, dy in ((0.9, 0), (0, 0.9), (-0.9, 0), (0, -0.85)):
            for _ in range(6):
                drag = drag.move_by_offset(int(dx * w / 6), int(dy * h / 6))
    else:
        drag = drag.move_by_offset(int(0.9 * w), int(0.9 * h))
    drag.release().perform()


@pytest.mark.parametrize("page,title,chart_key,tool", [
    ("Scores", "Stragglers and classic difficulty scores", "datamap", "Box Select"),
    ("Scores", "Stragglers and classic difficulty scores", "datamap", "Lasso Select"),
    ("Map", "Map of the stragglers", "map", "Box Select"),
    ("Map", "Map of the stragglers", "map", "Lasso Select"),
])
def test_a_selection_shows_the_points_images_and_class_counts(served, page, title, chart_key, tool):
    url, job_id, driver = served
    driver.get(f"{url}/{page}?job={job_id}")
    _page_drawn(driver, title)
    before = driver.execute_script(IMAGES_JS)
    _select(driver, chart_key, tool)
    _wait(lambda: driver.execute_script(SELECTED_JS) or driver.execute_script(PROBLEMS_JS), 120,
          "the selection's summary")
    time.sleep(1)
    _page_drawn(driver, title)
    problems = driver.execute_script(PROBLEMS_JS)
    _screenshot(driver, f"selection-{page}-{tool.split()[0].lower()}", whole=True)
    assert not problems, problems
    selected = driver.execute_script(SELECTED_JS)
    n = int(selected[0].split()[0])
    assert n >= 20, selected  # a drag over most of the map picks many points
    assert driver.execute_script(IMAGES_JS) > before  # their images are drawn below the map
    assert "Class counts" in driver.find_element("css selector", "body").text or \
        driver.execute_script("return document.querySelectorAll('[data-testid=\"stDataFrame\"]').length") > 0
