//! One registry for every kind of Berth plugin. A plugin crate submits a value of the kind's
//! type with `inventory::submit!`; the kind implements [`Registered`]; [`names`] and [`find`]
//! do the rest. Two plugins registered under one name are a build mistake, refused loudly the
//! first time the kind is looked at.

/// A kind of plugin that registers through `inventory` (its crate calls
/// `inventory::collect!` for it).
pub trait Registered: inventory::Collect {
    /// What the kind is called in messages (`backend`, `transport`, `native node type`).
    const KIND: &'static str;

    /// The name users select this plugin by.
    fn name(&self) -> &'static str;
}

/// No plugin of the kind is registered under the name asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no {kind} named `{name}` is linked in; registered: {}", registered.join(", "))]
pub struct NotRegistered {
    /// The kind.
    pub kind: &'static str,
    /// The name asked for.
    pub name: String,
    /// Every name registered for the kind, sorted.
    pub registered: Vec<&'static str>,
}

/// The names registered for kind `P`, sorted.
///
/// # Panics
/// If two plugins registered the same name: link only one of them.
pub fn names<P: Registered>() -> Vec<&'static str> {
    let mut names: Vec<_> = inventory::iter::<P>.into_iter().map(P::name).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        panic!(
            "two {}s are registered as `{}`: link only one of them",
            P::KIND,
            pair[0]
        );
    }
    names
}

/// The plugin of kind `P` registered as `name`.
pub fn find<P: Registered>(name: &str) -> Result<&'static P, NotRegistered> {
    let registered = names::<P>();
    inventory::iter::<P>
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| NotRegistered {
            kind: P::KIND,
            name: name.to_owned(),
            registered,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Greeting {
        name: &'static str,
        text: &'static str,
    }

    inventory::collect!(Greeting);

    impl Registered for Greeting {
        const KIND: &'static str = "greeting";

        fn name(&self) -> &'static str {
            self.name
        }
    }

    inventory::submit! { Greeting { name: "hello", text: "Hello!" } }
    inventory::submit! { Greeting { name: "bye", text: "Goodbye!" } }

    #[test]
    fn plugins_are_found_by_name_and_listed_sorted() {
        assert_eq!(names::<Greeting>(), vec!["bye", "hello"]);
        assert_eq!(find::<Greeting>("hello").unwrap().text, "Hello!");
        let missing = find::<Greeting>("howdy").err().unwrap();
        assert_eq!(
            missing.to_string(),
            "no greeting named `howdy` is linked in; registered: bye, hello"
        );
    }

    struct Twice {
        name: &'static str,
    }

    inventory::collect!(Twice);

    impl Registered for Twice {
        const KIND: &'static str = "twice";

        fn name(&self) -> &'static str {
            self.name
        }
    }

    inventory::submit! { Twice { name: "same" } }
    inventory::submit! { Twice { name: "same" } }

    #[test]
    #[should_panic(expected = "two twices are registered as `same`")]
    fn a_name_registered_twice_is_refused() {
        names::<Twice>();
    }
}
