"""A real headless Chromium for the dashboard tests, driven with Selenium's WebDriver client.

Used by tests/it/dashboard.rs: reads one JSON command per line on stdin and answers each with
one JSON line on stdout ({"ok": value} or {"error": text}). Commands:
  {"op": "get", "url": U}                      navigate
  {"op": "url"}                                the current address
  {"op": "wait", "css": C, "text": T?, "gone": bool?, "seconds": S}
                                               until an element matches (and contains T), or none does
  {"op": "click", "css": C}                    click the first match
  {"op": "type", "css": C, "text": T}          type into the first match
  {"op": "text", "css": C}                     the first match's text
  {"op": "count", "css": C}                    how many elements match
  {"op": "eval", "js": J}                      run J (a function body) and return its value
  {"op": "screenshot", "path": P}              save a PNG of the page
"""

import json
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--disable-gpu", "--no-first-run", "--disable-extensions"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, command):
    css, text, gone = command["css"], command.get("text"), command.get("gone", False)

    def matches(d):
        try:
            found = [e for e in d.find_elements(By.CSS_SELECTOR, css) if text is None or text in e.text]
        except StaleElementReferenceException:  # swapped by a live update meanwhile: look again
            return False
        return (not found) if gone else bool(found)

    try:
        WebDriverWait(driver, command.get("seconds", 10), poll_frequency=0.05).until(matches)
        return True
    except TimeoutException:
        state = "still there" if gone else "never appeared"
        raise RuntimeError(f"{css} {('with ' + repr(text)) if text else ''} {state} within {command.get('seconds', 10)} s; page: {driver.find_element(By.TAG_NAME, 'body').text[:2000]}")


def fresh(action):
    """Runs `action`, again if a live update replaced the element in between."""
    for _ in range(20):
        try:
            return action()
        except StaleElementReferenceException:
            continue
    return action()


def run(driver, command):
    op = command["op"]
    find = lambda: driver.find_element(By.CSS_SELECTOR, command["css"])
    if op == "get":
        driver.get(command["url"])
        return driver.current_url
    if op == "url":
        return driver.current_url
    if op == "wait":
        return wait(driver, command)
    if op == "click":
        fresh(lambda: find().click())
        return True
    if op == "type":
        fresh(lambda: find().send_keys(command["text"]))
        return True
    if op == "text":
        return fresh(lambda: find().text)
    if op == "count":
        return len(driver.find_elements(By.CSS_SELECTOR, command["css"]))
    if op == "eval":
        return driver.execute_script(command["js"])
    if op == "screenshot":
        return driver.save_screenshot(command["path"])
    raise RuntimeError(f"unknown op {op}")


def main():
    driver = browser()
    try:
        print(json.dumps({"ok": "ready"}), flush=True)
        for line in sys.stdin:
            try:
                answer = {"ok": run(driver, json.loads(line))}
            except Exception as err:  # the test shows it
                answer = {"error": f"{type(err).__name__}: {err}"}
            print(json.dumps(answer), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
