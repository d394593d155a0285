//! The registry of named commands. Every user action is a command, with a one-line doc, or a
//! prompt of the library (`keymap::Action`); the keymaps bind keys to them, and help, the
//! palette and the hint bars are made from this list and the keymaps.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    pub name: &'static str,
    pub doc: &'static str,
}

macro_rules! commands {
    ($($name:ident => $doc:literal),* $(,)?) => {
        /// A user action.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum Command { $($name),* }

        pub const COMMANDS: &[(Command, CommandInfo)] = &[
            $((Command::$name, CommandInfo { name: stringify!($name), doc: $doc })),*
        ];
    };
}

commands! {
    move_left => "Move left one character",
    move_right => "Move right one character",
    move_up => "Move up one visual line",
    move_down => "Move down one visual line",
    move_word_left => "Move to the start of the previous word",
    move_word_right => "Move to the end of the next word",
    move_line_start => "Move to the start of the visual line",
    move_line_end => "Move to the end of the visual line",
    page_up => "Move up one screen",
    page_down => "Move down one screen",
    move_doc_start => "Move to the start of the document",
    move_doc_end => "Move to the end of the document",
    select_left => "Extend the selection left",
    select_right => "Extend the selection right",
    select_up => "Extend the selection up",
    select_down => "Extend the selection down",
    select_word_left => "Extend the selection to the previous word",
    select_word_right => "Extend the selection to the next word",
    select_line_start => "Extend the selection to the start of the line",
    select_line_end => "Extend the selection to the end of the line",
    select_page_up => "Extend the selection up one screen",
    select_page_down => "Extend the selection down one screen",
    select_doc_start => "Extend the selection to the start of the document",
    select_doc_end => "Extend the selection to the end of the document",
    select_all => "Select the whole document",
    insert_newline => "Insert a line break",
    insert_tab => "Insert a tab",
    delete_backward => "Delete the character before the cursor",
    delete_forward => "Delete the character after the cursor",
    delete_word_backward => "Delete the word before the cursor",
    copy => "Copy the selection (also to the system clipboard)",
    cut => "Cut the selection",
    paste => "Paste the clipboard",
    undo => "Undo the last change",
    redo => "Redo the last undone change",
    find => "Find text (case-insensitive)",
    find_next => "Find the next match",
    find_previous => "Find the previous match",
    save => "Save the draft",
    save_as => "Save the draft under a new name",
    open => "Open a file",
    new => "Start a new untitled draft",
    help => "Show keys and commands",
    quit => "Quit Quill",
    accept_suggestion => "Insert the suggestion (one undo step)",
    accept_word => "Insert the suggestion's next word; the rest stays on offer",
    accept_sentence => "Insert the suggestion's next sentence; the rest stays on offer",
    accept_line => "Insert the suggestion's next line; the rest stays on offer",
    toggle_variant_list => "Show every variant at once, or one at a time",
    reject_suggestion => "Dismiss the suggestion",
    cancel_generation => "Stop the suggestion being generated",
    regenerate => "Ask for another variant",
    next_variant => "Show the next variant",
    previous_variant => "Show the previous variant",
    focus_next_pane => "Move the keyboard between the draft and the suggestions",
    command_palette => "Search every command and prompt",
    ask => "Ask anything of the selection (or the whole draft): type an instruction",
    templates => "Pick a template, fill in its form and run it",
    save_template_preset => "In a template's form: keep the filled form as a preset of its own",
    new_template => "Make a template from the selection (or the draft): {{ name }} becomes a field",
    edit_template => "Open a template in $EDITOR, then reload it",
    delete_template => "Delete one of your own templates (asks first)",
    outline => "Outline the article from its title and brief: ## headings, a note under each",
    write_section => "Write the section under the cursor from the brief, the outline and the sections before it",
    write_article => "Write every empty section in order, each its own undo step (Esc stops after one)",
    brief => "Edit the article's brief (title, audience, goal, tone...) kept in the draft's front matter",
    fold_brief => "Show the draft's front matter whole, or fold it to one line again (it starts folded)",
    settings => "Show and change the settings",
    restart_model => "Start the model again (after it stopped, or once its file is fixed)",
    cancel => "Close the pop-up; in the draft, stop or dismiss the suggestion, or clear the selection",
    submit => "Do it: run the chosen item, take the value typed, fill in the form",
    select_next => "The next item or field",
    select_previous => "The previous item or field",
    scroll_up => "Scroll up a line",
    scroll_down => "Scroll down a line",
    toggle => "Turn the chosen setting on or off",
    choose_yes => "Answer yes",
    choose_no => "Answer no",
    choose_save => "Answer: save first",
    choose_discard => "Answer: discard the changes",
    choose_overwrite => "Answer: overwrite it",
}

impl Command {
    pub fn info(self) -> CommandInfo {
        COMMANDS
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, info)| *info)
            .unwrap_or(CommandInfo { name: "?", doc: "" })
    }

    pub fn from_name(name: &str) -> Option<Command> {
        COMMANDS
            .iter()
            .find(|(_, info)| info.name == name)
            .map(|(c, _)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_command_is_documented() {
        for (command, info) in COMMANDS {
            assert_eq!(Command::from_name(info.name), Some(*command));
            assert!(!info.doc.is_empty(), "{} has no doc", info.name);
        }
        assert_eq!(Command::from_name("no_such_thing"), None);
    }
}
